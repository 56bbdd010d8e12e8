"""Factor transfer (Kim, Park, Kwak, "Paraphrasing Complex Network: Network Compression via Factor
Transfer", NeurIPS 2018, arXiv:1802.04977; kim2018), as the code of the CRD benchmark (RepDistiller:
``distiller_zoo/FT.py``, ``models/util.py`` ``Paraphraser`` / ``Translator``, ``train_student.py``,
``helper/pretrain.py``).

On one tap pair (default: the last ``stage<N>`` both networks have, the code's ``feat[-2]``):

* a paraphraser, trained in the initialization stage (``Distiller.init_stage()``, the code's 30
  epochs at lr 0.01 on the CIFAR ResNets and WRNs) to reconstruct the teacher's map (mean squared
  error): an encoder of three 3x3 convs (with bias, zero padding 1) ``C -> C -> kC -> kC`` and a
  decoder of three 3x3 transposed convs ``kC -> kC -> C -> C``, each followed by LeakyReLU(0.1), no
  batch norm (the code's ``use_bn=False``), ``k = 0.5`` (``int(C k)`` channels);
* in distillation, a translator (three 3x3 convs ``C_s -> C_s -> kC -> kC``, each with batch norm
  and LeakyReLU(0.1)) turns the student's map into a factor, the paraphraser's encoder (frozen: the
  code leaves it out of the optimizer) the teacher's; with the larger map average-pooled to the
  smaller, ``factor(f) = L2-normalize(flatten(mean over channels of f^p1))`` and the loss is the
  mean over positions of ``|factor_s - factor_t|^p2``, ``p1 = 2``, ``p2 = 1`` (the paper's L1), weight
  200 beside the cross-entropy 1 (the code's ``scripts/run_cifar_distill.sh``).

On WRNs the code's ``feat[-2]`` is taken after the network's final BN-ReLU; here the default tap is the
last stage's output, before it.
"""

from keras import layers, ops

from keras_kd.layers.chain import build_chain, run_chain
from keras_kd.layers.residual_block import batch_norm
from keras_kd.losses.connectors import chain_weights
from keras_kd.losses.feature_term import FeatureTerm, last_stage
from keras_kd.losses.norms import l2_normalize
from keras_kd.losses.registry import term
from keras_kd.losses.pooling import pool_to
from keras_kd.validation import check_non_negative, check_number


def factor_map(features, p1=2.0):
    """(B, H W): ``L2-normalize(flatten(mean over channels of features^p1))``, float32.

    Args:
        features: a feature map (B, H, W, C).
        p1: the power of the features before the channel mean.
    """
    f = ops.mean(ops.power(ops.cast(features, "float32"), p1), axis=-1)
    return l2_normalize(ops.reshape(f, (ops.shape(f)[0], -1)))


def factor_transfer_per_example(student_factor, teacher_factor, p1=2.0, p2=1.0):
    """Per example: the mean over positions of ``|factor(s) - factor(t)|^p2`` (``|.|`` for ``p2 = 1``),
    the larger map average-pooled to the smaller; no gradient into the teacher's factor.

    Args:
        student_factor: the student's factor (B, H, W, C).
        teacher_factor: the teacher's factor (B, H', W', C'); the larger map is pooled to the smaller.
        p1: the power in ``factor_map``.
        p2: the power of the absolute difference.
    """
    size = min(student_factor.shape[1], teacher_factor.shape[1])
    s = factor_map(pool_to(student_factor, size), p1)
    t = ops.stop_gradient(factor_map(pool_to(teacher_factor, size), p1))
    difference = ops.abs(s - t)
    return ops.mean(difference if p2 == 1 else ops.power(difference, p2), axis=-1)


def conv_stack(widths, name, transposed=False, norm=False):
    """3x3 (transposed) convs with bias to each of ``widths``, stride 1, size kept; each followed by
    batch norm (``norm``) and LeakyReLU(0.1)."""
    conv = layers.Conv2DTranspose if transposed else layers.Conv2D
    chain = []
    for i, width in enumerate(widths):
        chain.append(conv(width, 3, padding="same", name=f"{name}_conv{i + 1}"))
        chain += [batch_norm(f"{name}_bn{i + 1}")] if norm else []
        chain.append(layers.LeakyReLU(0.1, name=f"{name}_relu{i + 1}"))
    return chain


@term
class FT(FeatureTerm):
    """Factor transfer (kim2018) as RepDistiller's code: the paraphraser's initialization stage, then
    ``weight * factor_transfer_per_example(translator(s), encoder(t))``.

    Args:
        weight: weight of the term in distillation (>= 0); the code's 200.
        rate: the paraphraser's rate ``k`` (factor channels ``int(C k)``, > 0); the code's 0.5.
        p1: power of the maps in the factors (> 0); the code's 2.
        p2: power of the factors' difference (> 0); the code's 1.
        taps: ``None`` (the last ``stage<N>`` tap both networks have), or one name or pair
            (``["stage3"]``, ``{student tap: teacher tap}``).
    """

    default_name = "ft"
    same_spatial_size = False
    default_taps_note = "the last stage<N> tap both networks have"
    init_part_names = ("reconstruction",)
    init_reads_student = False

    def __init__(self, weight=200.0, rate=0.5, p1=2.0, p2=1.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.rate = check_number(rate, "rate", 0, float("inf"), low_open=True)
        self.p1 = check_number(p1, "p1", 0, float("inf"), low_open=True)
        self.p2 = check_number(p2, "p2", 0, float("inf"), low_open=True)
        self.encoder = self.decoder = self.translator = None

    def default_taps(self, common):
        return last_stage(common)

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        if len(self.pairs) != 1:
            raise ValueError(f"FT transfers the factor of one tap pair. Received: taps={self.taps_arg!r}")
        (student_tap, teacher_tap), = self.pairs
        s_shape, t_shape = student_shapes[1][student_tap], teacher_shapes[1][teacher_tap]
        channels, factor = t_shape[-1], int(t_shape[-1] * self.rate)
        if factor < 1:
            raise ValueError(f"FT's factor has int({channels} * rate) channels, at least 1. Received: rate={self.rate!r}")
        if self.encoder is None:
            self.encoder = conv_stack([channels, factor, factor], "paraphraser_encoder")
            self.decoder = conv_stack([factor, channels, channels], "paraphraser_decoder", transposed=True)
            build_chain(self.decoder, build_chain(self.encoder, t_shape))
            self.translator = conv_stack([s_shape[-1], factor, factor], "translator", norm=True)
            build_chain(self.translator, s_shape)

    def init_parts(self, step):
        teacher_map = ops.stop_gradient(ops.cast(step.teacher[1][self.pairs[0][1]], "float32"))
        reconstruction = run_chain(self.decoder, run_chain(self.encoder, teacher_map))
        error = ops.square(reconstruction - teacher_map)
        return {"reconstruction": ops.mean(ops.reshape(error, (ops.shape(error)[0], -1)), axis=-1)}

    def init_variables(self, student):
        return chain_weights([self.encoder, self.decoder])

    def held_in_distillation(self):
        return self.init_variables(None)

    def per_example(self, student, teacher, y):
        (student_tap, teacher_tap), = self.pairs
        student_factor = run_chain(self.translator, student[1][student_tap], training=True)
        teacher_factor = ops.stop_gradient(run_chain(self.encoder, teacher[1][teacher_tap]))
        return self.weight * factor_transfer_per_example(student_factor, teacher_factor, self.p1, self.p2)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "rate": self.rate, "p1": self.p1, "p2": self.p2}
