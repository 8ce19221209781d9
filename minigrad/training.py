"""Training helpers: a classifier's training loop, and scheduled sampling's teacher-forcing
ratio (notes 000 四 ③).

``train_classifier(model, make_batch, steps, lr)``: Adam on the cross-entropy of
``model(*inputs)``, gradients clipped by norm (notes 003 (6)); the loop lessons 06-08 and 12
train their many-to-one models with.

``TeacherForcingSchedule``: teacher forcing feeds the decoder the true previous word; at test
time it must eat its own predictions, and the mismatch (曝光偏差, exposure bias) makes errors
snowball. Scheduled sampling (Bengio et al. 2015) closes the gap gradually: at epoch ``e`` each
decoder input is the true word with probability ratio(e) and the model's own prediction
otherwise, with ratio(e) decaying from about 1 towards ``floor``. The notes write it as a mix,
decoder input = (1 - x) * generated label + x * target label with x decaying by epoch: here
x = ratio(e), and the mix is drawn token by token (a coin per row and step), so that every
input is still a real word and, on average, a share x of them are the targets.

    constant         ratio = start
    linear           ratio = max(floor, start - rate * e)
    exponential      ratio = max(floor, start * rate ** e)          0 < rate < 1
    inverse_sigmoid  ratio = max(floor, rate / (rate + exp(e / rate)))   rate >= 1
"""
import math

from . import functional as F, nn, optim

__all__ = ["train_classifier", "TeacherForcingSchedule"]


def train_classifier(model, make_batch, steps, lr, clip=1.0, every=10):
    """Adam on the cross-entropy of ``model(*inputs)`` against ``targets``, where
    ``make_batch(step)`` returns (inputs tuple, integer targets); gradients clipped to norm
    ``clip``. ``steps``: a count, or an iterable of step numbers such as a progress bar (one
    with ``set_postfix``, as tqdm's, shows the loss). Leaves the model in eval mode and returns
    the loss every ``every`` steps (a list of floats)."""
    opt = optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    bar = range(steps) if isinstance(steps, int) else steps
    for step in bar:
        inputs, targets = make_batch(step)
        loss = F.cross_entropy(model(*inputs), targets)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if step % every == 0:
            losses.append(loss.item())
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({"loss": f"{losses[-1]:.4g}"}, refresh=False)
    model.eval()
    return losses

DECAYS = ("constant", "linear", "exponential", "inverse_sigmoid")


class TeacherForcingSchedule:
    """ratio = schedule(epoch), epochs counted from 0; see the module docstring.

    >>> s = TeacherForcingSchedule("linear", rate=0.25)
    >>> [s(e) for e in range(5)]
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """

    def __init__(self, decay="linear", rate=0.1, start=1.0, floor=0.0):
        if decay not in DECAYS:
            raise ValueError(f"TeacherForcingSchedule: decay must be one of {DECAYS}, "
                             f"got {decay!r}")
        if not 0.0 <= floor <= start <= 1.0:
            raise ValueError(f"TeacherForcingSchedule: expected 0 <= floor <= start <= 1, "
                             f"got floor={floor}, start={start}")
        if decay == "linear" and rate < 0:
            raise ValueError(f"TeacherForcingSchedule: linear decay needs rate >= 0, got {rate}")
        if decay == "exponential" and not 0 < rate <= 1:
            raise ValueError(f"TeacherForcingSchedule: exponential decay needs 0 < rate <= 1, "
                             f"got {rate}")
        if decay == "inverse_sigmoid" and rate < 1:
            raise ValueError(f"TeacherForcingSchedule: inverse_sigmoid decay needs rate >= 1, "
                             f"got {rate}")
        self.decay, self.rate, self.start, self.floor = decay, rate, start, floor

    def __call__(self, epoch):
        if epoch < 0:
            raise ValueError(f"TeacherForcingSchedule: epoch must be >= 0, got {epoch}")
        if self.decay == "constant":
            ratio = self.start
        elif self.decay == "linear":
            ratio = self.start - self.rate * epoch
        elif self.decay == "exponential":
            ratio = self.start * self.rate ** epoch
        else:
            ratio = self.rate / (self.rate + math.exp(epoch / self.rate))
        return max(self.floor, ratio)

    def __repr__(self):
        return (f"TeacherForcingSchedule(decay={self.decay!r}, rate={self.rate}, "
                f"start={self.start}, floor={self.floor})")
