"""``FeatureTerm``: a term over pairs of feature taps of the student and the teacher."""

import re

from keras_kd.losses.term import DistillationTerm
from keras_kd.models.staged import PREACT_SUFFIX, STEM, is_extra_tap


def stage_taps(names, suffix=""):
    """The names ``stage<N><suffix>`` among ``names``, by increasing N."""
    pattern = re.compile(r"stage(\d+)" + re.escape(suffix))
    matches = [(pattern.fullmatch(name), name) for name in names]
    return [name for _, name in sorted((int(match.group(1)), name) for match, name in matches if match)]


def last_stage(names):
    """``[the stage<N> tap of highest N]`` among ``names``, or ``[]``."""
    return stage_taps(names)[-1:]


def preact_stages(names):
    """The ``stage<N>_preact`` taps among ``names``, by increasing N."""
    return stage_taps(names, PREACT_SUFFIX)


def stem_and_stages(names):
    """``stem`` then the ``stage<N>`` taps among ``names`` (the stem only if present)."""
    return [STEM] * (STEM in names) + stage_taps(names)


class FeatureTerm(DistillationTerm):
    """A term over pairs of feature taps, matched by name or explicitly.

    Args:
        taps: ``None`` (every tap name both networks have whose tensors are
            4-D feature maps: a zoo model's stages, not its ``"embedding"`` or its
            extra taps, ``"stem"`` and ``stage<i>_preact``), a list
            of names present in both, or a dict ``{student tap: teacher tap}``.
    """

    same_spatial_size = True  # whether paired maps must agree in height and width
    default_taps_note = "every stage tap both networks have"  # what ``default_taps`` picks, for errors

    def default_taps(self, common):
        """The tap names paired when ``taps=None``, from ``common``: the 4-D taps both networks have."""
        return [name for name in common if not is_extra_tap(name)]

    def __init__(self, taps=None, **kwargs):
        super().__init__(**kwargs)
        self.taps_arg = taps
        self.pairs = []

    def connect(self, student_shapes, teacher_shapes):
        student_taps, teacher_taps = student_shapes[1], teacher_shapes[1]
        if self.taps_arg is None:
            common = [name for name in student_taps
                      if name in teacher_taps and len(student_taps[name]) == len(teacher_taps[name]) == 4]
            pairs = [(name, name) for name in self.default_taps(common)]
            if common and not pairs:
                raise ValueError(
                    f"{type(self).__name__}'s default taps are {self.default_taps_note}; the common 4-D taps "
                    f"are {common}. Name the taps: taps=['...'] or taps={{'student tap': 'teacher tap'}}. "
                    "Received: taps=None")
        elif isinstance(self.taps_arg, dict):
            pairs = list(self.taps_arg.items())
        else:
            pairs = [(name, name) for name in self.taps_arg]
        if not pairs:
            raise ValueError(
                f"{type(self).__name__} found no feature taps to match. Student "
                f"taps: {list(student_taps)}, teacher taps: {list(teacher_taps)}. Zoo models "
                "(keras_kd.models) offer stage1..stageN; for your own functional or Sequential "
                "models name the layers whose outputs to match: taps={'student_layer': "
                "'teacher_layer'} (names from model.summary()). "
                f"Received: taps={self.taps_arg!r}"
            )
        for student_tap, teacher_tap in pairs:
            for side, tap, available in (
                ("student", student_tap, student_taps),
                ("teacher", teacher_tap, teacher_taps),
            ):
                if tap not in available:
                    raise ValueError(
                        f"Unknown {side} tap {tap!r}; the {side} has "
                        f"{list(available)}. Received: taps={self.taps_arg!r}"
                    )
            s_shape, t_shape = student_taps[student_tap], teacher_taps[teacher_tap]
            for side, tap, shape in (("student", student_tap, s_shape), ("teacher", teacher_tap, t_shape)):
                if len(shape) != 4:
                    raise ValueError(
                        f"{type(self).__name__} needs 4-D feature maps (batch, height, width, "
                        f"channels): {side} tap {tap!r} has shape {tuple(shape)}. "
                        f"Received: taps={self.taps_arg!r}"
                    )
            if self.same_spatial_size and tuple(s_shape[1:3]) != tuple(t_shape[1:3]):
                raise ValueError(
                    f"{type(self).__name__} needs equal spatial sizes: student tap "
                    f"{student_tap!r} has shape {tuple(s_shape)}, teacher tap "
                    f"{teacher_tap!r} has shape {tuple(t_shape)}. Received: taps={self.taps_arg!r}"
                )
        self.pairs = pairs
        self.taps = tuple(pairs)

    def sum_over_pairs(self, pair_loss, student, teacher):
        """``sum over the tap pairs of pair_loss(student map, teacher map)``, from the two
        networks' ``(logits, {tap: tensor})``."""
        return sum(pair_loss(student[1][s], teacher[1][t]) for s, t in self.pairs)

    def get_config(self):
        return {**super().get_config(), "taps": self.taps_arg}
