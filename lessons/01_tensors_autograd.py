# %% [markdown]
# # Lesson 01 — Tensors and autograd (张量与自动求导)
#
# **Learning goals**
# 1. Make tensors with `mg.tensor`, know their shape, dtype and device, and compute with them.
# 2. See that every operation records a **computational graph** (计算图) and that
#    `backward()` walks it in reverse with the chain rule (链式法则).
# 3. Derive the gradient of one RNN step by hand and find it equal to autograd.
# 4. Check a gradient with **finite differences** (有限差分) — and see why the step size `eps`
#    can be neither too large nor too small.
# 5. Train a tiny network with gradient descent (梯度下降) written by hand.
#
# **Notes followed**
# - notes 004「1.2 循环神经网络」「前向传播」 (forward propagation):
#   $a^{<t>} = g_1(W_{aa} a^{<t-1>} + W_{ax} x^{<t>} + b_a)$, $\hat y^{<t>} = g_2(W_{ya} a^{<t>} + b_y)$,
#   with $x^{<t>}$ of shape $(n_x, m)$ and $a^{<t>}$ of shape $(n_a, m)$ (one column per example).
# - notes 003「RNN」, BPTT: training by backpropagation (反向传播) through the
#   recorded computation; this lesson does it for one step, lesson 03 for a whole sequence.
#
# Run: `python lessons/01_tensors_autograd.py [--quick] [--device cuda]`. Default run: a few
# seconds; it fits $\sin$ to a mean squared error below 0.01.

# %%
from minigrad_lessons import common      # the lesson's set-up, checks and figures
import numpy as np

import minigrad as mg

run = common.setup("Lesson 01: tensors and autograd")

# %% [markdown]
# ## 1. Tensors
# A tensor (张量) is an n-dimensional array plus what autograd needs. Python floats become
# float32; integers stay integers. `t.array` is the backend array: NumPy on the CPU, CuPy on
# the GPU. `t.numpy()`, as in PyTorch, is a NumPy array that shares memory with a CPU tensor
# (write into one and the other changes); it refuses a tensor that requires grad (use
# `t.detach().numpy()`) and a GPU tensor (copy it to the CPU with `t.cpu()` first). So the
# lessons write `t.cpu().numpy()` or `t.detach().cpu().numpy()`, and `--device cuda` works.
# `t.data`, as in PyTorch, is not an array: it is a tensor sharing `t`'s storage but cut from
# the graph, so whatever is done to it is never differentiated.

# %%
x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(x)
print("shape", x.shape, "dtype", x.dtype, "device", x.device)
print("x * 2 + 1 =", (x * 2 + 1).tolist())
print("x @ x.T  =", (x @ x.T).tolist())
print("sum over axis 0:", x.sum(axis=0).tolist(), " mean:", x.mean().item())
common.check(x.shape == (2, 3) and x.dtype == mg.float32, "a 2x3 float32 tensor", exercise=None)

c = mg.tensor([1.0, 2.0, 3.0], device="cpu")
view = c.numpy()                                     # no copy: view is c's storage
view[0] = 10.0
print("c after view[0] = 10:", c.tolist())
w = mg.ones(3, device="cpu", requires_grad=True)
try:
    w.numpy()
    raised = "nothing"
except RuntimeError as err:
    raised = type(err).__name__
print(f"w.numpy() raises {raised}; w.detach().numpy() = {w.detach().numpy().tolist()}")
common.check(c[0].item() == 10.0 and raised == "RuntimeError",
             "numpy() shares a CPU tensor's memory and refuses one that requires grad", exercise=None)

# %% [markdown]
# ## 2. One RNN step records a graph
# The notes' forward propagation, in their notation and shapes:
# $z = W_{aa} a^{<t-1>} + W_{ax} x^{<t>} + b_a$, $a^{<t>} = \tanh(z)$ ($g_1 = \tanh$).
# Tensors made with `requires_grad=True` are leaves (叶子节点) whose gradient we want;
# every result remembers the op (`creator`) that made it and that op's inputs.

# %%
n_x, n_a, m = 3, 4, 5
W_aa = mg.randn(n_a, n_a, dtype=mg.float64, requires_grad=True)
W_ax = mg.randn(n_a, n_x, dtype=mg.float64, requires_grad=True)
b_a = mg.zeros(n_a, 1, dtype=mg.float64, requires_grad=True)
a_prev = mg.randn(n_a, m, dtype=mg.float64)          # a^{<t-1>}: (n_a, m)
x_t = mg.randn(n_x, m, dtype=mg.float64)             # x^{<t>}:   (n_x, m)

z = W_aa @ a_prev + W_ax @ x_t + b_a                 # z = W_aa a^{<t-1>} + W_ax x^{<t>} + b_a
a_t = z.tanh()                                       # a^{<t>} = g_1(z), g_1 = tanh
r = mg.randn(n_a, m, dtype=mg.float64)               # fixed weights: a scalar loss that uses every a
L = (a_t * r).sum()                                  # L = sum(r * a^{<t>})

names = {id(t): n for n, t in [("W_aa", W_aa), ("W_ax", W_ax), ("b_a", b_a), ("a_prev", a_prev),
                                ("x_t", x_t), ("z", z), ("a_t", a_t), ("r", r), ("L", L)]}


def show_graph(t, depth=0):
    """Print the graph below ``t``: each tensor with the op that made it, inputs indented."""
    name = names.get(id(t), "·")
    if t.creator is None:
        print("    " * depth + f"{name} {t.shape} (leaf, requires_grad={t.requires_grad})")
        return
    print("    " * depth + f"{name} {t.shape} <- {t.creator.name}")
    for x_in in t.creator.inputs:
        show_graph(x_in, depth + 1)


show_graph(L)

# %% [markdown]
# ## 3. Backward by hand, then by autograd
# The chain rule from the loss down to the parameters, one line per link:
# - $\partial L / \partial a^{<t>} = r$
# - $\partial L / \partial z = r \odot (1 - \tanh^2 z) = r \odot (1 - (a^{<t>})^2)$
# - $\partial L / \partial W_{ax} = (\partial L/\partial z)\, (x^{<t>})^T$,
#   $\partial L / \partial W_{aa} = (\partial L/\partial z)\, (a^{<t-1>})^T$,
#   $\partial L / \partial b_a = \sum_{\text{columns}} \partial L/\partial z$.
#
# These are exactly the pieces lesson 03 chains through time.

# %%
# BEGIN SOLUTION
# TITLE: the gradients of one RNN step by hand
# OFF LIMITS: backward, mg.gradcheck
# HINT: dz = r * (1 - a_t**2); dW_ax = dz @ x_t.T; dW_aa = dz @ a_prev.T; db_a = dz summed over axis 1 (keepdims)
with mg.no_grad():
    dz = r * (1 - a_t * a_t)                         # dL/dz = r ⊙ (1 - a²)
    dW_ax = dz @ x_t.T                               # dL/dW_ax = dz x^T
    dW_aa = dz @ a_prev.T                            # dL/dW_aa = dz a_prev^T
    db_a = dz.sum(axis=1, keepdims=True)             # dL/db_a = sum over the m examples
# END SOLUTION

L.backward()                                         # autograd: the same chain rule, walked for us
for name, mine, param in [("W_aa", dW_aa, W_aa), ("W_ax", dW_ax, W_ax), ("b_a", db_a, b_a)]:
    err = float(np.abs(mine.cpu().numpy() - param.grad.cpu().numpy()).max())
    print(f"dL/d{name}: largest difference hand vs autograd = {err:.2e}")
    common.check(err < 1e-12, f"hand-derived dL/d{name} equals autograd", exercise=1)

# %% [markdown]
# ## 4. Finite differences
# Autograd could be wrong too, so we test it against the definition of the derivative,
# with the **central difference** (中心差分):
# $\dfrac{\partial L}{\partial \theta_i} \approx \dfrac{L(\theta + \epsilon e_i) - L(\theta - \epsilon e_i)}{2\epsilon}$.
# Its error shrinks like $\epsilon^2$ until round-off (舍入误差), which grows like $1/\epsilon$,
# takes over: the plot below shows both, which is why checks use float64 and $\epsilon \approx 10^{-6}$.

# %%
def loss_of_W_ax():
    """L as a function of W_ax alone (everything else fixed)."""
    with mg.no_grad():
        return float(((W_aa @ a_prev + W_ax @ x_t + b_a).tanh() * r).sum().item())


def numeric_grad(f, param, eps):
    """Central differences of f() with respect to every element of param (nudged in place)."""
    grad = np.zeros(param.shape)
    flat = param.array.reshape(-1)   # the backend array, viewed flat: nudging it nudges the parameter
    for i in range(flat.size):
        old = flat[i].item()
        # BEGIN SOLUTION
        # TITLE: a finite-difference gradient
        # OFF LIMITS: backward, mg.gradcheck
        # HINT: set flat[i] to old + eps, evaluate f(); then old - eps; restore old; grad.flat[i] = (f+ - f-) / (2 eps)
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad.flat[i] = (f_plus - f_minus) / (2 * eps)
        # END SOLUTION
    return grad


autograd_W_ax = W_ax.grad.cpu().numpy()
eps_values = [10.0 ** -k for k in range(1, 13)]
errors = [np.abs(numeric_grad(loss_of_W_ax, W_ax, eps) - autograd_W_ax).max() for eps in eps_values]
for eps, err in zip(eps_values, errors):
    print(f"eps = {eps:.0e}   max |finite difference - autograd| = {err:.2e}")
common.check(min(errors) < 1e-8, f"finite differences agree with autograd (best error {min(errors):.1e})", exercise=2)
common.check(errors[5] < 1e-8, "at eps = 1e-6 the agreement is within 1e-8", exercise=2)

fig, ax = common.figure()
ax.loglog(eps_values, errors, "o-")
ax.set_xlabel("eps")
ax.set_ylabel("max |finite difference - autograd|")
ax.set_title(common.label("finite-difference error", "有限差分误差"))
common.savefig(fig, "01_fd_error_vs_eps")

# %% [markdown]
# `mg.gradcheck` does the same for every input at once, and names the worst element if
# they disagree. It is how every op in minigrad is tested.

# %%
inputs = [W_aa.detach().requires_grad_(), W_ax.detach().requires_grad_(), b_a.detach().requires_grad_()]
ok = mg.gradcheck(lambda Waa, Wax, b: (Waa @ a_prev + Wax @ x_t + b).tanh(), inputs)
common.check(ok, "mg.gradcheck passes for one RNN step", exercise=None)

# %% [markdown]
# ## 5. Gradients accumulate; `no_grad` records nothing
# A second `backward()` adds to `.grad` (that is what lets one parameter used at many time
# steps collect all its gradients in BPTT). Clear them before each training step.

# %%
w = mg.tensor([2.0], requires_grad=True)
(w * w).sum().backward()
first = w.grad.item()
(w * w).sum().backward()
print("d(w²)/dw once:", first, " after two backward calls:", w.grad.item())
common.check(w.grad.item() == 2 * first, "gradients add up across backward calls", exercise=None)
with mg.no_grad():
    y = w * 3
print("made under no_grad: requires_grad =", y.requires_grad)

# %% [markdown]
# **In-place ops** (就地操作) change a tensor's own storage: `t += 1`, `t[0] = 5`, and every
# method ending in `_` (`t.add_`, `t.zero_`, ...). Autograd needs care with them. Each op
# keeps what its backward will read (`h * w` keeps `h` and `w`); if one of those is changed in
# place afterwards, the gradient would be computed from the wrong numbers. So, as in PyTorch,
# every tensor carries a version counter, bumped by each in-place op, and `backward()` refuses
# to use a value that changed since it was saved, naming the op that needed it.

# %%
w = mg.tensor([1.0, 2.0], requires_grad=True)
h = w * 2                # h is not a leaf: in-place ops on it are recorded
out = (h * w).sum()      # Mul keeps h (for w's gradient) at version 0
h += 1                   # h is now at version 1
try:
    out.backward()
    message = ""
except RuntimeError as e:
    message = str(e)
print(message)
common.check("Mul" in message and "version 1" in message,
             "backward refuses a value that an in-place op changed after it was saved", exercise=None)

# %% [markdown]
# ## 6. Gradient descent by hand
# Fit $\sin(x)$ on $[-3, 3]$ with a one-hidden-layer tanh network. The update is
# $\theta \leftarrow \theta - \eta\, \partial L/\partial \theta$ (learning rate 学习率 $\eta$), written
# as in PyTorch: `p -= lr * p.grad` inside `mg.no_grad()`. `-=` changes the parameter itself (an
# in-place op), and `no_grad` keeps the update out of the graph; with grad enabled, minigrad,
# like PyTorch, refuses to change a leaf that requires grad in place. (`p.grad` is a tensor of
# `p`'s shape; `p.data.add_(p.grad, alpha=-lr)` is the older spelling of the same step.)

# %%
n_points, hidden = run.pick(256, 64), 32
steps = run.pick(3000, 300)
grid = np.linspace(-3, 3, n_points, dtype=np.float32).reshape(-1, 1)   # made on the host ...
xs, ys = mg.tensor(grid), mg.tensor(np.sin(grid))                    # ... then sent to the device: (N, 1)
net = mg.nn.Sequential(mg.nn.Linear(1, hidden), mg.nn.Tanh(), mg.nn.Linear(hidden, 1))
lr = 0.1

losses = []
bar = common.progress(range(steps), desc="gradient descent")
for step in bar:
    loss = ((net(xs) - ys) ** 2).mean()                   # L = mean (ŷ - y)²
    net.zero_grad()
    loss.backward()
    if step == 0:                  # the first step is checked exactly: θ - η ∂L/∂θ
        expected = [common.to_host(p) - lr * common.to_host(p.grad) for p in net.parameters()]
    with mg.no_grad():
        for p in net.parameters():
            # BEGIN SOLUTION
            # TITLE: one step of gradient descent
            # OFF LIMITS: mg.optim
            # HINT: θ ← θ - η ∂L/∂θ, in place: p -= ... (p.grad has the same shape)
            p -= lr * p.grad
            # END SOLUTION
    if step == 0:
        for k, (p, want) in enumerate(zip(net.parameters(), expected)):
            common.compare(f"parameter {k} after the first step", p, want, exercise=3,
                           against="θ - η ∂L/∂θ", cause="the sign, or the learning rate, of the step")
    losses.append(loss.item())
    if step % 100 == 0:
        common.set_postfix(bar, loss=losses[-1])

print(f"mean squared error: first step {losses[0]:.4f}, last step {losses[-1]:.4f}")
common.plot_curve("01_loss_curve", losses, "step", "mean squared error",
                  common.label("fitting sin(x) by gradient descent", "梯度下降"), logy=True)

target = run.pick(0.01, 0.1)
common.check(losses[-1] < target, f"the network fits sin(x): MSE {losses[-1]:.4f} < {target}", exercise=3)

common.finish()
