"""The papers' CIFAR training recipes, as data: the seed papers' and the CRD / mdistiller benchmark's.

A recipe is part of the method: optimizer, weight-decay semantics, schedule
and augmentation move every accuracy a paper reports. Each entry of
``RECIPES`` is one paper and model family, with the paper's sentence it
comes from; ``recipe.optimizer(steps_per_epoch)`` builds it
(``keras_kd.optimizers.SGD``: PyTorch's coupled weight decay, as every seed
paper's code) and ``recipe.data_kwargs()`` gives the ``keras_kd.data.load``
augmentation. ``get_recipe("tang2024", "wrn-28-10")`` finds the entry of a
zoo model; ``recipe.scaled(epochs)`` is the same recipe over fewer epochs
(milestones scaled alike), which the CPU-sized examples run.

Example:

>>> recipe = kd.recipes.get_recipe("crowley2018", "wrn-40-2")
>>> distiller.compile(optimizer=recipe.optimizer(steps_per_epoch=391))  # doctest: +SKIP
>>> print(recipe.describe())  # doctest: +SKIP
"""

import dataclasses

import keras

from keras_kd import optimizers, schedules
from keras_kd.data.pipeline import GRADAUG_CIFAR_SCALES
from keras_kd.models.registry import recipe_family
from keras_kd.validation import check_choice

SCHEDULES = ("multistep", "cosine", "exponential")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One paper's training recipe for one model family.

    ``schedule`` is ``"multistep"`` (``milestones``, times ``factor`` at the
    start of each), ``"cosine"`` (to 0 at ``epochs``) or ``"exponential"``
    (times ``factor`` after every epoch), all stepping once per epoch.
    ``pad_mode`` is the crop padding (``"constant"`` zeros or
    ``"reflect"``); every recipe pads 4 pixels, random-crops and flips.
    ``random_scale`` holds tang2024's "random scale transformation (Yang,
    Zhu, and Chen 2020)": GradAug's (yang2020) sizes as fractions of the
    image, ``keras_kd.data.load(..., random_scale=...)``; ``()`` for none.
    tang2024 gives neither the scales nor which passes get them: the
    scales are GradAug's CIFAR ones (its code's "resos: [32, 28, 24]"), and
    every training batch is scaled, since GKT trains one network per step,
    where GradAug feeds its full network the original images.

    Args:
        paper: the paper's key (``"crowley2018"``).
        family: the model family (``model_family``).
        epochs: training epochs.
        batch_size: examples per batch.
        learning_rate: the initial learning rate.
        schedule: ``"multistep"``, ``"cosine"`` or ``"exponential"`` (see above).
        weight_decay: the SGD weight decay.
        source: the paper's (or its code's) words for the recipe, quoted.
        milestones: the epochs of the multistep schedule.
        factor: the schedule's factor.
        momentum: the SGD momentum.
        nesterov: whether the SGD is Nesterov's.
        pad_mode: ``"constant"`` or ``"reflect"`` (see above).
        random_scale: the scales (see above); ``()`` for none.
    """

    paper: str
    family: str
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    weight_decay: float
    source: str
    milestones: tuple = ()
    factor: float = 1.0
    momentum: float = 0.9
    nesterov: bool = False
    pad_mode: str = "constant"
    random_scale: tuple = ()

    def __post_init__(self):
        check_choice(self.schedule, "schedule", SCHEDULES)

    @property
    def key(self):
        return f"{self.paper}/{self.family}"

    def learning_rate_schedule(self, steps_per_epoch):
        """The Keras schedule of this recipe, constant within each epoch."""
        if self.schedule == "multistep":
            return schedules.MultiStepDecay(self.learning_rate, self.milestones, self.factor, steps_per_epoch)
        if self.schedule == "cosine":
            return schedules.CosineAnnealing(self.learning_rate, self.epochs, steps_per_epoch)
        return keras.optimizers.schedules.ExponentialDecay(
            self.learning_rate, steps_per_epoch, self.factor, staircase=True
        )

    def optimizer(self, steps_per_epoch):
        """``keras_kd.optimizers.SGD`` with this recipe's rate, momentum and coupled decay."""
        return optimizers.SGD(
            self.learning_rate_schedule(steps_per_epoch),
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
        )

    def data_kwargs(self):
        """``keras_kd.data.load`` arguments of this recipe's augmentation."""
        return {"pad": 4, "pad_mode": self.pad_mode, "random_scale": self.random_scale or None}

    def scaled(self, epochs):
        """This recipe over ``epochs`` epochs: milestones at the same fractions of
        training, and an exponential factor giving the same total decay."""
        ratio = epochs / self.epochs
        milestones = sorted({round(m * ratio) for m in self.milestones} & set(range(1, epochs)))
        factor = self.factor ** (1 / ratio) if self.schedule == "exponential" else self.factor
        return dataclasses.replace(self, epochs=epochs, milestones=tuple(milestones), factor=factor)

    def describe(self):
        """The resolved recipe, one setting a line, with the paper's sentence."""
        fields = dataclasses.asdict(self)
        source = fields.pop("source")
        lines = [f"{name}: {value}" for name, value in fields.items()]
        lines.append("weight decay: coupled (added to the gradient before momentum, as torch.optim.SGD)")
        return "\n".join([f"recipe {self.key}"] + lines + [f"source: {source}"])


CROWLEY2018 = (
    "crowley2018 §4.1: 'For training we used minibatches of size 128. Before each minibatch, the images were "
    "padded by 4x4 zeros, and then a random 32x32 crop was taken. Each image was left-right flipped with a "
    "probability of a half. Training was conducted for 200 epochs using SGD with standard momentum fixed at 0.9 "
    "with an initial learning rate of 0.1. The learning rate was reduced by a factor of 0.2 at the start of epochs "
    "60, 120, and 160.' The paper gives no weight decay; its code (BayesWatch/pytorch-moonshine main.py) uses "
    "torch.optim.SGD(..., 0.9, weight_decay=0.0005) over every parameter."
)
JHA2020 = (
    "jha2020 §5: 'we use SGD with a mini-batch of size 128, initial learning as 0.1, momentum is fixed as 0.9, "
    "and weight decay factor is used as 4e-4. All the R/NR-baseline network is trained with SGD for 120 epochs "
    "except for the distillation experiments of Mobilenet-V2, where students are trained for 300 epochs. The "
    "learning rate is reduced by a factor of 10 after every 30th, 60th, and 90th epochs for ResNet18, whereas for "
    "WRN it is reduced by a factor of 5. For MobileNetV2, the learning rate is multiplied by a factor of 0.98 after "
    "every epoch [...] we pad each input image with a 4x4 reflection of edge pixels. Further, we use a horizontal "
    "flip and then a random crop of 32x32.'"
)
LI2021 = (
    "li2021 §IV-A1: 'We use a weight decay of 0.0001 and a momentum of 0.9. Our models are trained with a "
    "mini-batch size of 128. We start with a learning rate of 0.1, divide it by 10 at 150 and 200 epochs, and "
    "terminate training at 250 epochs. We follow the simple data augmentation in [1] for training: 4 pixels are "
    "padded on each side, and a 32x32 crop is randomly sampled from the padded image or its horizontal flip.'"
)
TANG2024_WRN = (
    "tang2024 appendix A1: 'For WRN families, we follow the training setting in (Zagoruyko and Komodakis 2016), "
    "and adopt SGD as the optimizer. We train WRN for 200 epochs with a batch size of 128. And the initial "
    "learning rate is 0.1 with cosine decay schedule. The weight decay is 0.0005. [...] utilize random scale "
    "transformation.' Momentum: Zagoruyko and Komodakis 2016 §4, 'SGD with Nesterov momentum [...] dampening "
    "to 0, momentum to 0.9'."
)
TANG2024_RESNET = (
    "tang2024 appendix A1: 'For ResNet families and MobileNetV3, we follow the training setting in (Ye et al. "
    "2022c). SGD is used as the optimizer. We train ResNet and MobileNetV3 for 500 epochs with a batch size of 64. "
    "And the initial learning rate is 0.05 with cosine decay schedule. The weight decay is 0.0003. [...] utilize "
    "random scale transformation.' Momentum is not given; 0.9 (plain) is this library's choice."
)
YAO2020_RESNET = (
    "yao2020 supplementary §1.1: 'for ResNet-110/ResNet-164 and MobileNet, we use SGD with momentum, and we set "
    "the batch size as 64, the weight decay as 0.0001, the momentum as 0.9 and the number of training epochs as "
    "200. The initial learning rate is 0.1, and it is divided by 10 every 60 epochs.'"
)
YAO2020_DENSENET = (
    "yao2020 supplementary §1.1: 'For DenseNet-40-12, we use SGD with Nesterov momentum, and we set the batch "
    "size as 64, the weight decay as 0.0001, the momentum as 0.9 and the number of training epochs as 300. The "
    "initial learning rate is set to 0.1, and is divided by 10 at 50% and 75% of the total number of training "
    "epochs.'"
)
YAO2020_WRN = (
    "yao2020 supplementary §1.1: 'For WRN-28-10/WRN-28-4, we use SGD with momentum, and we set the batch size as "
    "128, the weight decay as 0.0005, the momentum as 0.9 and the number of training epochs as 200. The initial "
    "learning rate is set to 0.1, and is divided by 5 at 60, 120 and 160 epochs. In the second scenario of "
    "jointly training two CNNs with the different backbones, we use the training hyper-parameters of WRN-28-10 "
    "to train both networks.'"
)

TIAN2020 = (
    "tian2020's CIFAR-100 benchmark, as its code (RepDistiller train_student.py, whose runs its tables report; "
    "mdistiller's configs repeat it): batch_size 64, epochs 240, learning_rate 0.05, lr_decay_epochs "
    "'150,180,210', lr_decay_rate 0.1, weight_decay 5e-4, momentum 0.9 (torch.optim.SGD); 'set different "
    "learning rate from these 4 models: if opt.model_s in ['MobileNetV2', 'ShuffleV1', 'ShuffleV2']: "
    "opt.learning_rate = 0.01'; RandomCrop(32, padding=4) and RandomHorizontalFlip."
)

_ENTRIES = [
    Recipe("crowley2018", "wrn", 200, 128, 0.1, "multistep", 5e-4, CROWLEY2018, (60, 120, 160), 0.2),
    Recipe("jha2020", "wrn", 120, 128, 0.1, "multistep", 4e-4, JHA2020, (30, 60, 90), 0.2, pad_mode="reflect"),
    Recipe("jha2020", "resnet18", 120, 128, 0.1, "multistep", 4e-4, JHA2020, (30, 60, 90), 0.1, pad_mode="reflect"),
    Recipe("jha2020", "mobilenetv2", 300, 128, 0.1, "exponential", 4e-4, JHA2020, factor=0.98, pad_mode="reflect"),
    Recipe("li2021", "resnet", 250, 128, 0.1, "multistep", 1e-4, LI2021, (150, 200), 0.1),
    Recipe("tang2024", "wrn", 200, 128, 0.1, "cosine", 5e-4, TANG2024_WRN, nesterov=True,
           random_scale=GRADAUG_CIFAR_SCALES),
    Recipe("tang2024", "resnet", 500, 64, 0.05, "cosine", 3e-4, TANG2024_RESNET, random_scale=GRADAUG_CIFAR_SCALES),
    Recipe("yao2020", "resnet", 200, 64, 0.1, "multistep", 1e-4, YAO2020_RESNET, (60, 120, 180), 0.1),
    Recipe("yao2020", "mobilenet", 200, 64, 0.1, "multistep", 1e-4, YAO2020_RESNET, (60, 120, 180), 0.1),
    Recipe("yao2020", "mobilenetv2", 200, 64, 0.1, "multistep", 1e-4, YAO2020_RESNET, (60, 120, 180), 0.1),
    Recipe("yao2020", "densenet", 300, 64, 0.1, "multistep", 1e-4, YAO2020_DENSENET, (150, 225), 0.1,
           nesterov=True),
    Recipe("tian2020", "resnet", 240, 64, 0.05, "multistep", 5e-4, TIAN2020, (150, 180, 210), 0.1),
    Recipe("tian2020", "mobilenetv2", 240, 64, 0.01, "multistep", 5e-4, TIAN2020, (150, 180, 210), 0.1),
    Recipe("yao2020", "wrn", 200, 128, 0.1, "multistep", 5e-4, YAO2020_WRN, (60, 120, 160), 0.2),
]
RECIPES = {recipe.key: recipe for recipe in _ENTRIES}

# Families a paper trains with another family's recipe: li2021 states one CIFAR recipe for all its
# networks; tang2024 and yao2020 train every CIFAR ResNet alike, and tang2024 its MobileNetV3 as its ResNets;
# tian2020 trains WRN and VGG as its ResNets, ShuffleNets as MobileNetV2 (lr 0.01).
FAMILY_FALLBACKS = {"li2021": {family: "resnet" for family in ("wrn", "resnet18", "mobilenetv2", "shufflenet",
                                                               "xception", "inception", "vgg")},
                    "tang2024": {"resnet18": "resnet", "mobilenetv3": "resnet"},
                    "tian2020": {"wrn": "resnet", "vgg": "resnet", "shufflenet": "mobilenetv2"},
                    "yao2020": {"resnet18": "resnet"}}


def model_family(model_name):
    """The recipe family of a zoo registry name (``keras_kd.models.get_model``): ``wrn``,
    ``resnet18`` (the CIFAR-stem ImageNet layouts, jha2020's ResNet-18), ``resnet`` (CIFAR
    ResNets, He et al.'s pre-activation ones too), ``mobilenet`` (v1), ``mobilenetv2``, ``densenet``,
    ``mobilenetv3``, ``vgg``, ``shufflenet``, ``xception``, ``inception`` or ``imagenet-resnet``; raises ValueError for unknown names.

    Args:
        model_name: a zoo registry name (``keras_kd.models.list_models()``).
    """
    return recipe_family(model_name)


def get_recipe(paper, model_name=None, family=None):
    """The recipe of ``paper`` for a zoo model (``model_name``) or a ``family``.

    Raises ValueError naming the paper and family when there is none.

    Args:
        paper: the paper's key (``"crowley2018"``, ``"tang2024"``...).
        model_name: a zoo registry name; its family is ``model_family(model_name)``.
        family: the family, instead of ``model_name``.
    """
    family = family or model_family(model_name)
    family = FAMILY_FALLBACKS.get(paper, {}).get(family, family)
    key = f"{paper}/{family}"
    if key not in RECIPES:
        raise ValueError(f"No recipe {key!r}. Known recipes: {sorted(RECIPES)}")
    return RECIPES[key]
