"""``summary()`` of a trainer: Keras' table, then what each row is for.

A trainer's table lists its networks by their own names (a student and a
teacher may both be ``resnet-8``) and its loss terms as layers whose output
shape is ``?`` (a term is never called on a tensor of its own); the lines
after the table name each network's role and whether it trains, and each
term with its settings.
"""


class RoleSummary:
    """Mixin: ``summary`` ends with one line per network (attributes named in
    ``summary_roles``, lists enumerated) and one per loss term (``terms``)."""

    summary_roles = ()

    def _role_lines(self):
        for role in self.summary_roles:
            networks = getattr(self, role, None)
            if networks is None:
                continue
            listed = networks if isinstance(networks, list) else [networks]
            for k, network in enumerate(listed):
                label = f"{role}[{k}]" if isinstance(networks, list) else role
                state = "trained" if network.trainable else "frozen"
                yield f" {label}: {network.name} ({type(network).__name__}), {state}, {network.count_params():,} params"
        for term in getattr(self, "terms", ()):
            settings = ", ".join(
                f"{key}={value!r}" for key, value in term.get_config().items()
                if key not in ("name", "trainable", "dtype")
            )
            yield f" loss term: {term.name} = {type(term).__name__}({settings}); a term has no output shape ('?')"

    def summary(self, *args, print_fn=None, **kwargs):
        """``keras.Model.summary``, then the networks' roles and the loss terms."""
        super().summary(*args, print_fn=print_fn, **kwargs)
        for line in self._role_lines():
            (print_fn or print)(line)
