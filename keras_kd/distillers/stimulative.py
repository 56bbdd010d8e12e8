"""``StimulativeTraining``: the ST baseline of tang2024 (Ye et al. 2022, ye2022; Eq. 9).

Each step runs the main net and one subnet drawn with the uniform rule
(ordered residual structure, every count ``1..l_d`` equally likely per
stage, ``gkt_sampler``) and minimizes

    CE(y, z_main) + kl_weight * T^2 * KL(softmax(z_main / T) || softmax(z_sub / T))

with the main net's side detached (tang2024 Eq. 9, the lambda there is
``kl_weight``).
"""

from keras_kd.api import register
from keras_kd.distillers.gkt_sampler import SubnetSampler
from keras_kd.distillers.subnet import SubnetTrainer
from keras_kd.losses.kd import check_temperature, kd_divergence
from keras_kd.losses.supervised import weighted_mean
from keras_kd.validation import check_non_negative


@register
class StimulativeTraining(SubnetTrainer):
    """Stimulative training (Ye et al. 2022, ye2022; tang2024 Eq. 9), the GKT baseline.

    Args:
        model: a built ``keras_kd.models`` network (``StagedNet``), trained
            in place; ``trainer.model`` is what to save.
        kl_weight: lambda, the weight of the main-to-subnet KL (default 1).
        temperature: softmax temperature T of the KL (scaled by T^2); ST
            uses the plain softmax, T = 1.
        seed: int seed of the subnet sampling (``None``: random).

    Choices: per-stage uniform counts (the sampled subnet may be the full
    net); both passes in training mode, so BatchNorm statistics move in
    both. Two forward passes per step: a step costs more than plain
    training (tang2024 Table 13: 7.6 h vs 3.6 h). Batches may carry an
    index (``((images, index), labels)``); it is ignored.
    Logs ``ce_loss`` and ``st_loss``; compiled metrics are on the main net.

    Example:

    >>> st = StimulativeTraining(kd.models.cifar_resnet(56, 100), seed=0)
    >>> st.compile(keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    >>> st.fit(train_ds, epochs=500)  # doctest: +SKIP
    """

    def __init__(self, model, kl_weight=1.0, temperature=1.0, seed=None, **kwargs):
        kwargs.setdefault("name", "stimulative_training")
        super().__init__(model, seed=seed, **kwargs)
        self.kl_weight = check_non_negative(kl_weight, "kl_weight")
        self.temperature = check_temperature(temperature)
        self.sampler = SubnetSampler(model, "uniform")
        self.track_parts(["ce_loss", "st_loss"], labelled=["ce_loss"])
        self.built = True

    def train_outputs(self, images, index):
        main = self.model(images, training=True)
        counts = self.sampler.sample(self.sampler.sizes, self.seed_generator)[0]
        subnet = self.run_subnet(images, self.sampler.gates(counts))
        return {"logits": main, "subnet_logits": subnet}

    def subnet_loss_parts(self, x, y, y_pred, sample_weight):
        ce = self.supervised_loss(y, y_pred["logits"], sample_weight)
        kl = kd_divergence(y_pred["logits"], y_pred["subnet_logits"], self.temperature)
        return {"ce_loss": (ce, 1.0), "st_loss": (self.kl_weight * weighted_mean(kl, sample_weight), 1.0)}

    def get_config(self):
        config = super().get_config()
        config.update({"kl_weight": self.kl_weight, "temperature": self.temperature})
        return config
