"""Activation boundaries (Heo, Lee, Yun, Choi, "Knowledge Transfer via Distillation of Activation
Boundaries Formed by Hidden Neurons", AAAI 2019, arXiv:1811.03233; heo2019a), as the code of the
CRD benchmark (RepDistiller: ``distiller_zoo/AB.py``, ``train_student.py``, ``helper/pretrain.py``).

The student's pre-ReLU maps go through connectors to the teacher's shapes (the identity where channels
and sizes agree, else ``connectors.conv_regressor`` without ReLU: conv and batch norm), and each pair
``i`` of ``n`` costs, summed over the map's elements,

    ``(s + m)^2 [s > -m and t <= 0] + (s - m)^2 [s <= m and t > 0]``

(the paper's alternative loss: a neuron of the student is pushed past the margin ``m`` on the side
of the teacher's activation boundary), weighted ``2^(i - n + 1)`` and by ``3 / 1000`` per example
(the code's ``/ bsz / 1000 * 3``). Margin 1.

The maps, by default, are the code's ``feat[1:-1]`` with ``preact=True`` (``keras_kd.models.pre_relu``):
on post-activation ResNets each stage's sum before its last ReLU (``stage<i>_preact``); on VGGs the same
for stages 2 to 5; on pre-activation networks (WRN) each stage's output through the batch norm that
starts the next stage or, for the last, the head's (the code's ``block2.layer[0].bn1`` ... ``bn1``): the
networks' own layers, the student's in training mode in the stage (the code trains them with the
feature modules) but the head's in inference mode (outside them), the teacher's in inference mode. The
last ``min(n_student, n_teacher)`` stages of each are paired. Other networks name their taps.

The loss trains in the initialization stage (``Distiller.init_stage()``; the code's 30 epochs):
the connectors and the student's stem and stages (``get_feat_modules``). In distillation the code's AB
loss is 0 ("can also add loss to this stage"), so ``weight`` defaults to 0: cross-entropy alone, as its
published CIFAR-100 numbers; the connectors stay as the stage left them (the code's distillation
optimizer leaves them out), whatever the weight.
"""

from keras import ops

from keras_kd.layers.chain import run_chain
from keras_kd.losses.connectors import chain_weights, conv_regressor
from keras_kd.losses.feature_term import FeatureTerm, preact_stages
from keras_kd.losses.registry import term
from keras_kd.losses.term import zero_per_example
from keras_kd.models.pre_relu import Site, pre_relu_sites, pre_relu_stages, read_site
from keras_kd.models.resnet import ResidualNetwork
from keras_kd.models.subnetworks import feature_variables
from keras_kd.models.vgg import VGG
from keras_kd.validation import check_non_negative, check_number


def activation_boundary_loss(student_map, teacher_map, margin=1.0):
    """Per example: the sum over (H, W, C) of the margin loss of the activation boundaries, float32,
    no gradient into ``teacher_map``.

    Args:
        student_map: the student's (adapted) pre-ReLU feature map (B, H, W, C).
        teacher_map: the teacher's pre-ReLU feature map, same shape; only its sign is used.
        margin: the margin of the boundary (>= 0).
    """
    s = ops.cast(student_map, "float32")
    t = ops.stop_gradient(ops.cast(teacher_map, "float32"))
    off = ops.cast(ops.logical_and(s > -margin, t <= 0), "float32")
    on = ops.cast(ops.logical_and(s <= margin, t > 0), "float32")
    loss = ops.square(s + margin) * off + ops.square(s - margin) * on
    return ops.sum(ops.reshape(loss, (ops.shape(loss)[0], -1)), axis=-1)


@term
class AB(FeatureTerm):
    """Activation-boundary distillation (heo2019a) as RepDistiller's code: an initialization stage on
    ``sum_i 2^(i-n+1) * 3/1000 * activation_boundary_loss(connector_i(s_i), t_i)``, then ``weight`` times
    the same loss in distillation (the code's 0).

    Args:
        weight: weight of the loss in distillation (>= 0); the code's 0.
        margin: the margin ``m`` (> 0); the code's 1.
        taps: ``None`` (the code's pre-ReLU features of two zoo ResNets / VGGs, see above; on other zoo
            networks every ``stage<N>_preact`` tap both have), a list, or ``{student tap: teacher tap}``, read
            as they are, in the order of the weights (the last pair weighs 1).
    """

    default_name = "ab"
    same_spatial_size = False
    default_taps_note = "the stage<N>_preact taps both networks have (zoo models offer them)"
    init_part_names = ("loss",)

    def __init__(self, weight=0.0, margin=1.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.margin = check_number(margin, "margin", 0, float("inf"), low_open=True)
        self.connectors, self.sites, self.shapes = {}, [], None

    def default_taps(self, common):
        return preact_stages(common)

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        self.shapes = (student_shapes[1], teacher_shapes[1])
        if self.taps_arg is not None:  # else the networks say where their pre-ReLU features are
            self.use_sites([(Site(s), Site(t)) for s, t in self.pairs])

    def connect_networks(self, student, teachers):
        if self.taps_arg is not None:
            return
        if not all(isinstance(model, (ResidualNetwork, VGG)) for model in [student, *teachers]):
            self.use_sites([(Site(s), Site(t)) for s, t in self.pairs])
            return
        student_sites = [pre_relu_sites(student)[name] for name in pre_relu_stages(student)]
        teacher_sites = [pre_relu_sites(teachers[0])[name] for name in pre_relu_stages(teachers[0])]
        if len(teachers) > 1 and any(site.apply is not None for site in teacher_sites):
            raise ValueError(
                "AB reads a pre-activation teacher's features through that teacher's own batch norms: name one "
                f"teacher, term_teachers={{{self.name!r}: position}}. Received: {len(teachers)} teachers")
        count = min(len(student_sites), len(teacher_sites))
        self.use_sites(list(zip(student_sites[len(student_sites) - count:], teacher_sites[len(teacher_sites) - count:])))

    def use_sites(self, sites):
        """Pairs ``(student Site, teacher Site)``; builds the connectors their shapes need."""
        student_shapes, teacher_shapes = self.shapes
        self.sites = sites
        self.pairs = [(s.tap, t.tap) for s, t in sites]
        self.taps = tuple(self.pairs)
        for s, t in sites:
            s_shape, t_shape = student_shapes[s.tap], teacher_shapes[t.tap]
            if tuple(s_shape[1:]) != tuple(t_shape[1:]) and s.tap not in self.connectors:
                self.connectors[s.tap] = conv_regressor(s_shape, t_shape, f"connector_{s.tap}", relu=False)

    def boundary_loss(self, student, teacher, training):
        """Per example: the weighted sum over the pairs."""
        count, total = len(self.sites), 0.0
        for i, (s_site, t_site) in enumerate(self.sites):
            s = read_site(s_site, student[1], training=training and not s_site.in_head)
            t = read_site(t_site, teacher[1], training=False)
            if s_site.tap in self.connectors:
                s = run_chain(self.connectors[s_site.tap], s, training=training)
            total = total + 2.0 ** (i - count + 1) * 3e-3 * activation_boundary_loss(s, t, self.margin)
        return total

    def init_parts(self, step):
        return {"loss": self.boundary_loss(step.student, step.teacher, step.training)}

    def init_variables(self, student):
        return chain_weights(self.connectors.values()) + feature_variables(student)

    def held_in_distillation(self):
        return chain_weights(self.connectors.values())

    def per_example(self, student, teacher, y):
        if not self.weight:
            return zero_per_example(student[0])
        return self.weight * self.boundary_loss(student, teacher, training=True)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "margin": self.margin}
