"""Scheduled sampling: a teacher-forcing ratio that decays per epoch (notes 000 四 ③).

Teacher forcing feeds the decoder the true previous word; at test time it must eat its own
predictions, and the mismatch (曝光偏差, exposure bias) makes errors snowball. Scheduled
sampling (Bengio et al. 2015) closes the gap gradually: at epoch ``e`` each decoder input is
the true word with probability ratio(e) and the model's own prediction otherwise, with
ratio(e) decaying from about 1 towards ``floor``. The notes write it as a mix,
decoder input = (1 - x) * generated label + x * target label with x decaying by epoch: here
x = ratio(e), and the mix is drawn token by token (a coin per row and step), so that every
input is still a real word and, on average, a share x of them are the targets.


    constant         ratio = start
    linear           ratio = max(floor, start - rate * e)
    exponential      ratio = max(floor, start * rate ** e)          0 < rate < 1
    inverse_sigmoid  ratio = max(floor, rate / (rate + exp(e / rate)))   rate >= 1
"""
import math

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
