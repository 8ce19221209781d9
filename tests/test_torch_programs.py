"""PyTorch programs, written the way the well-known tutorials write them, run on minigrad with
the import swap alone (two char-RNN tutorials, a tied-weight LSTM language model and its
transformer variant, a GRU seq2seq with attention, a char RNN rewritten from NumPy; then
time_sequence_prediction's LSTMCell loop with L-BFGS, a GRU classifier fed by a DataLoader, a
language model saved and reloaded mid-training, an RNN mixing NumPy arrays and tensors, the NLP
tutorials' LSTM tagger, n-gram model and Variable-era bag-of-words classifier, and the
transformer tutorial with its StepLR schedule):

    import minigrad as torch
    from minigrad import nn, optim
    import minigrad.functional as F

The swap is "torch" -> "minigrad" in the import lines and nothing else: ``import
torch.nn.functional as F`` may stay ``import minigrad.nn.functional as F`` (the same module),
``from torch.utils.data import DataLoader`` becomes ``from minigrad.utils.data import
DataLoader``, ``import torch.autograd as autograd`` ``import minigrad.autograd as autograd``.
(torch itself is never imported.) Each program trains for a few steps at tiny sizes; the test
asserts that its loss falls by a stated margin and that sampled gradient entries equal
central finite differences (float64).
"""
import math

import numpy as np
import pytest

import minigrad as torch
import minigrad.functional as F
from minigrad import nn, optim
from tests.helpers import grad_of


@pytest.fixture(autouse=True)
def float64_and_seeded():
    """Programs run in float64 so that finite differences are exact to ~1e-8."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def on_the_host():
    """For a program that builds its data on the host (``torch.from_numpy``, a NumPy-fed
    DataLoader) and never moves it, as the tutorials write it for the CPU: its model is made
    there too, whatever device the suite runs on (MINIGRAD_DEVICE=strict). On a GPU, torch
    would refuse the same program until it calls ``.to(device)``."""
    old = torch.backend.default_device()
    torch.set_default_device("cpu")
    yield
    torch.set_default_device(old)


def assert_gradients_match_finite_differences(loss_fn, params, per_param=2, eps=1e-6, seed=0):
    """``loss_fn()`` recomputes the program's loss from scratch (no dropout). One backward,
    then ``per_param`` random entries of each parameter against (L(p+eps) - L(p-eps)) / 2eps."""
    for p in params:
        p.grad = None
    loss_fn().backward()
    rng = np.random.default_rng(seed)
    for p in params:
        g = grad_of(p)
        for _ in range(per_param):
            idx = tuple(int(rng.integers(0, n)) for n in p.shape)
            old = float(p.array[idx])
            with torch.no_grad():
                p.array[idx] = old + eps
                up = loss_fn().item()
                p.array[idx] = old - eps
                down = loss_fn().item()
            p.array[idx] = old
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - g[idx]) <= 1e-6 + 1e-4 * abs(numeric), \
                f"parameter {tuple(p.shape)} at {idx}: backward {g[idx]}, numeric {numeric}"


# ----------------------------------------------------------------------------- char RNN classifier

LETTERS = "aeioubcdfg"
N_LETTERS = len(LETTERS)
CATEGORIES = ["vowels", "consonants"]


def letter_to_index(letter):
    return LETTERS.find(letter)


def line_to_tensor(line):
    tensor = torch.zeros(len(line), 1, N_LETTERS)
    for li, letter in enumerate(line):
        tensor[li][0][letter_to_index(letter)] = 1
    return tensor


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def test_char_rnn_classifier_trains_with_a_manual_sgd_step():
    rng = np.random.default_rng(0)
    # Category 0 words are made of vowels, category 1 of consonants, with one letter of noise.
    data = []
    for _ in range(40):
        c = int(rng.integers(2))
        pool = LETTERS[:5] if c == 0 else LETTERS[5:]
        word = "".join(rng.choice(list(pool), size=int(rng.integers(3, 6))))
        data.append((CATEGORIES[c], word[:-1] + rng.choice(list(LETTERS))))
    rnn = CharRNN(N_LETTERS, 8, len(CATEGORIES))
    criterion = nn.NLLLoss()
    learning_rate = 0.05

    def run(category, line):
        category_tensor = torch.tensor([CATEGORIES.index(category)], dtype=torch.long)
        line_tensor = line_to_tensor(line)
        hidden = rnn.initHidden()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        return output, criterion(output, category_tensor)

    def train(category, line):
        rnn.zero_grad()
        output, loss = run(category, line)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, loss.item()

    def mean_loss():
        with torch.no_grad():
            return sum(run(c, w)[1].item() for c, w in data) / len(data)

    before = mean_loss()
    for epoch in range(4):
        for category, line in data:
            output, loss = train(category, line)
    after = mean_loss()
    assert after < 0.25 * before, (before, after)          # measured: 0.67 -> 0.028
    top_n, top_i = output.topk(1)
    assert top_i[0].item() in (0, 1) and top_n.shape == (1, 1)
    assert_gradients_match_finite_differences(lambda: run(*data[0])[1], list(rnn.parameters()))


# ----------------------------------------------------------------------------- char RNN generator

class CharGenerator(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, n_layers=1):
        super().__init__()
        self.hidden_size, self.n_layers = hidden_size, n_layers
        self.encoder = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, n_layers)
        self.decoder = nn.Linear(hidden_size, output_size)

    def forward(self, input, hidden):
        input = self.encoder(input.view(1, -1))
        output, hidden = self.gru(input.view(1, 1, -1), hidden)
        output = self.decoder(output.view(1, -1))
        return output, hidden

    def init_hidden(self):
        return torch.zeros(self.n_layers, 1, self.hidden_size)


def test_char_rnn_generator_trains_with_adam_and_samples_with_multinomial():
    all_characters = "abc "
    n_characters = len(all_characters)
    text = "abc abc abc abc abc abc "

    def char_tensor(string):
        tensor = torch.zeros(len(string)).long()
        for c in range(len(string)):
            tensor[c] = all_characters.index(string[c])
        return tensor

    decoder = CharGenerator(n_characters, 8, n_characters)
    decoder_optimizer = torch.optim.Adam(decoder.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    chunk_len = 8

    def chunk_loss(start):
        chunk = char_tensor(text[start:start + chunk_len + 1])
        inp, target = chunk[:-1], chunk[1:]
        hidden = decoder.init_hidden()
        loss = 0
        for c in range(chunk_len):
            output, hidden = decoder(inp[c], hidden)
            loss += criterion(output, target[c].unsqueeze(0))
        return loss / chunk_len

    def evaluate(prime_str="a", predict_len=8, temperature=0.5):
        hidden = decoder.init_hidden()
        prime_input = char_tensor(prime_str)
        predicted = prime_str
        inp = prime_input[-1]
        for p in range(predict_len):
            output, hidden = decoder(inp, hidden)
            output_dist = output.data.view(-1).div(temperature).exp()
            top_i = torch.multinomial(output_dist, 1)[0]
            predicted_char = all_characters[top_i]
            predicted += predicted_char
            inp = char_tensor(predicted_char)
        return predicted

    with torch.no_grad():
        before = sum(chunk_loss(s).item() for s in range(0, 12, 4)) / 3
    for epoch in range(40):
        decoder.zero_grad()
        loss = chunk_loss((epoch * 4) % 12)
        loss.backward()
        decoder_optimizer.step()
    with torch.no_grad():
        after = sum(chunk_loss(s).item() for s in range(0, 12, 4)) / 3
    assert after < 0.05 * before, (before, after)          # measured: 1.46 -> 0.0016
    sample = evaluate("a", 8)
    assert len(sample) == 9 and set(sample) <= set(all_characters)
    assert "abc" in sample                           # the pattern, sampled at temperature 0.5
    assert_gradients_match_finite_differences(lambda: chunk_loss(0), list(decoder.parameters()))


# ----------------------------------------------------------------------------- tied LSTM LM

class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return decoded, hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt=5):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def test_tied_weight_lstm_language_model_trains():
    ntokens = 7
    corpus = torch.tensor([i % ntokens for i in range(3 * 41)])      # 0 1 2 ... 6 0 1 ...
    train_data = batchify(corpus, 3)                                  # (41, 3)
    model = RNNModel("LSTM", ntokens, 8, 8, 1, dropout=0.0, tie_weights=True)
    model.rnn.flatten_parameters()
    assert model.decoder.weight is model.encoder.weight
    criterion = nn.CrossEntropyLoss()
    lr, clip = 5.0, 0.25

    def evaluate():
        model.eval()
        total, hidden = 0.0, model.init_hidden(3)
        with torch.no_grad():
            for i in range(0, train_data.size(0) - 1, 5):
                data, targets = get_batch(train_data, i)
                output, hidden = model(data, hidden)
                total += len(data) * criterion(output, targets).item()
        return total / (len(train_data) - 1)

    before = evaluate()
    for epoch in range(6):
        model.train()
        hidden = model.init_hidden(3)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, 5)):
            data, targets = get_batch(train_data, i)
            hidden = repackage_hidden(hidden)
            model.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output.view(-1, ntokens), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
    after = evaluate()
    assert after < 0.1 * before, (before, after)           # measured: 1.95 -> 0.015
    data, targets = get_batch(train_data, 0)
    hidden = model.init_hidden(3)
    assert_gradients_match_finite_differences(
        lambda: criterion(model(data, hidden)[0], targets), list(model.parameters()))


# ----------------------------------------------------------------------------- GRU seq2seq

SOS_token, EOS_token, MAX_LENGTH = 0, 1, 6


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size)

    def forward(self, input, hidden):
        embedded = self.embedding(input).view(1, 1, -1)
        output, hidden = self.gru(embedded, hidden)
        return output, hidden

    def initHidden(self, device):
        return torch.zeros(1, 1, self.hidden_size, device=device)


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1, max_length=MAX_LENGTH):
        super().__init__()
        self.hidden_size, self.output_size = hidden_size, output_size
        self.dropout_p, self.max_length = dropout_p, max_length
        self.embedding = nn.Embedding(self.output_size, self.hidden_size)
        self.attn = nn.Linear(self.hidden_size * 2, self.max_length)
        self.attn_combine = nn.Linear(self.hidden_size * 2, self.hidden_size)
        self.dropout = nn.Dropout(self.dropout_p)
        self.gru = nn.GRU(self.hidden_size, self.hidden_size)
        self.out = nn.Linear(self.hidden_size, self.output_size)

    def forward(self, input, hidden, encoder_outputs):
        embedded = self.embedding(input).view(1, 1, -1)
        embedded = self.dropout(embedded)
        attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
        attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
        output = torch.cat((embedded[0], attn_applied[0]), 1)
        output = self.attn_combine(output).unsqueeze(0)
        output = F.relu(output)
        output, hidden = self.gru(output, hidden)
        output = F.log_softmax(self.out(output[0]), dim=1)
        return output, hidden, attn_weights


def seq2seq_loss(input_tensor, target_tensor, encoder, decoder, criterion, device,
                 teacher_forcing=True):
    encoder_hidden = encoder.initHidden(device)
    input_length, target_length = input_tensor.size(0), target_tensor.size(0)
    encoder_outputs = torch.zeros(MAX_LENGTH, encoder.hidden_size, device=device)
    loss = 0
    for ei in range(input_length):
        encoder_output, encoder_hidden = encoder(input_tensor[ei], encoder_hidden)
        encoder_outputs[ei] = encoder_output[0, 0]
    decoder_input = torch.tensor([[SOS_token]], device=device)
    decoder_hidden = encoder_hidden
    for di in range(target_length):
        decoder_output, decoder_hidden, decoder_attention = decoder(
            decoder_input, decoder_hidden, encoder_outputs)
        loss += criterion(decoder_output, target_tensor[di])
        if teacher_forcing:
            decoder_input = target_tensor[di]                 # teacher forcing
        else:
            topv, topi = decoder_output.topk(1)
            decoder_input = topi.squeeze().detach()          # its own prediction
            if decoder_input.item() == EOS_token:
                break
    return loss, target_length


def test_gru_seq2seq_with_attention_learns_to_reverse_and_the_encoder_gets_gradients():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vocab, hidden_size = 6, 12
    rng = np.random.default_rng(1)
    pairs = []
    for _ in range(6):
        seq = rng.integers(2, vocab, size=3).tolist()
        pairs.append((torch.tensor(seq + [EOS_token], dtype=torch.long, device=device).view(-1, 1),
                      torch.tensor(seq[::-1] + [EOS_token], dtype=torch.long,
                                   device=device).view(-1, 1)))
    encoder = EncoderRNN(vocab, hidden_size).to(device)
    decoder = AttnDecoderRNN(hidden_size, vocab, dropout_p=0.0).to(device)
    encoder_optimizer = optim.SGD(encoder.parameters(), lr=0.1)
    decoder_optimizer = optim.SGD(decoder.parameters(), lr=0.1)
    criterion = nn.NLLLoss()

    def mean_loss():
        with torch.no_grad():
            return sum(seq2seq_loss(s, t, encoder, decoder, criterion, device)[0].item() / len(t)
                       for s, t in pairs) / len(pairs)

    before = mean_loss()
    for it in range(150):
        input_tensor, target_tensor = pairs[it % len(pairs)]
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        loss, target_length = seq2seq_loss(input_tensor, target_tensor, encoder, decoder,
                                           criterion, device, teacher_forcing=it % 2 == 0)
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
    after = mean_loss()
    assert after < 0.35 * before, (before, after)          # measured: 1.76 -> 0.20
    # The gradient reaches the encoder through the attention over encoder_outputs (the
    # tensor written step by step): its embedding gets a nonzero, correct gradient.
    s, t = pairs[0]
    params = list(encoder.parameters()) + list(decoder.attn.parameters())
    assert_gradients_match_finite_differences(
        lambda: seq2seq_loss(s, t, encoder, decoder, criterion, device)[0], params)
    assert np.abs(grad_of(encoder.embedding.weight)).sum() > 0


# ----------------------------------------------------------------------------- transformer LM

class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Transformer):
    """Container module with an encoder, positional encoding and a linear decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                         num_encoder_layers=nlayers, dropout=dropout)
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            device = src.device
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = self._generate_square_subsequent_mask(len(src)).to(device)
                self.src_mask = mask
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


@pytest.mark.filterwarnings("ignore:divide by zero")      # log(0) = -inf makes the mask
def test_transformer_language_model_trains():
    ntokens = 6
    corpus = torch.tensor([(3 * i) % ntokens for i in range(2 * 25)])
    train_data = batchify(corpus, 2)                                  # (25, 2)
    model = TransformerModel(ntokens, 8, 2, 16, 1, dropout=0.0)
    pe = model.pos_encoder.pe
    np.testing.assert_allclose(pe[3, 0, 4].item(), math.sin(3 / 10000 ** (4 / 8)))
    np.testing.assert_allclose(pe[3, 0, 5].item(), math.cos(3 / 10000 ** (4 / 8)))
    criterion = nn.NLLLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    def evaluate():
        model.eval()
        with torch.no_grad():
            data, targets = get_batch(train_data, 0, bptt=24)
            return criterion(model(data).view(-1, ntokens), targets).item()

    before = evaluate()
    for step in range(25):
        model.train()
        for i in range(0, train_data.size(0) - 1, 8):
            data, targets = get_batch(train_data, i, bptt=8)
            optimizer.zero_grad()
            output = model(data)
            loss = criterion(output.view(-1, ntokens), targets)
            loss.backward()
            optimizer.step()
    after = evaluate()
    assert after < 0.05 * before, (before, after)          # measured: 1.61 -> 0.006
    data, targets = get_batch(train_data, 0, bptt=6)
    layer = model.encoder.layers[0]
    some = [model.input_emb.weight, model.decoder.weight, layer.self_attn.in_proj_weight,
            layer.linear1.weight]
    assert_gradients_match_finite_differences(
        lambda: criterion(model(data).view(-1, ntokens), targets), some)


# ----------------------------------------------------------------------------- NumPy-style char RNN

def test_numpy_style_char_rnn_with_adagrad_written_as_in_place_updates():
    data = "hello world, hello there. " * 2
    chars = sorted(set(data))
    vocab_size = len(chars)
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    hidden_size, seq_length, learning_rate = 16, 8, 0.1

    Wxh = (torch.randn(hidden_size, vocab_size) * 0.01).requires_grad_()
    Whh = (torch.randn(hidden_size, hidden_size) * 0.01).requires_grad_()
    Why = (torch.randn(vocab_size, hidden_size) * 0.01).requires_grad_()
    bh = torch.zeros(hidden_size, 1, requires_grad=True)
    by = torch.zeros(vocab_size, 1, requires_grad=True)
    params = [Wxh, Whh, Why, bh, by]

    def lossFun(inputs, targets, hprev):
        hs = hprev
        loss = 0
        for t in range(len(inputs)):
            xs = torch.zeros(vocab_size, 1)
            xs[inputs[t]] = 1                                      # one-hot
            hs = torch.tanh(Wxh @ xs + Whh @ hs + bh)
            ys = Why @ hs + by
            ps = torch.exp(ys) / torch.sum(torch.exp(ys))
            loss += -torch.log(ps[targets[t], 0])
        return loss, hs

    def epoch_loss():
        with torch.no_grad():
            total, h = 0.0, torch.zeros(hidden_size, 1)
            for p in range(0, len(data) - seq_length - 1, seq_length):
                loss, h = lossFun([char_to_ix[c] for c in data[p:p + seq_length]],
                                  [char_to_ix[c] for c in data[p + 1:p + seq_length + 1]], h)
                total += loss.item()
            return total

    mems = [torch.zeros_like(p) for p in params]
    before = epoch_loss()
    for n in range(60):
        p = (n * seq_length) % (len(data) - seq_length - 1)
        hprev = torch.zeros(hidden_size, 1)
        inputs = [char_to_ix[ch] for ch in data[p:p + seq_length]]
        targets = [char_to_ix[ch] for ch in data[p + 1:p + seq_length + 1]]
        loss, hprev = lossFun(inputs, targets, hprev)
        loss.backward()
        with torch.no_grad():
            for param, mem in zip(params, mems):
                dparam = param.grad
                dparam.clamp_(-5, 5)                               # against exploding gradients
                mem += dparam * dparam
                param += -learning_rate * dparam / (mem + 1e-8).sqrt()   # adagrad update
                param.grad.zero_()
    after = epoch_loss()
    assert after < 0.3 * before, (before, after)           # measured: 115 -> 11.3
    assert all(m.abs().sum().item() > 0 for m in mems)            # the memories were updated
    inputs = [char_to_ix[ch] for ch in data[:seq_length]]
    targets = [char_to_ix[ch] for ch in data[1:seq_length + 1]]
    assert_gradients_match_finite_differences(
        lambda: lossFun(inputs, targets, torch.zeros(hidden_size, 1))[0], params)


# ----------------------------------------------------------------------------- LSTMCell + L-BFGS

class Sequence(nn.Module):
    """time_sequence_prediction's model (hidden size 51 there, 12 here)."""

    def __init__(self, hidden=12):
        super(Sequence, self).__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


@pytest.mark.usefixtures("on_the_host")
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lstm_cell_sine_predictor_trains_with_lbfgs_closures(line_search_fn):
    np.random.seed(2)
    T, L, N = 20, 30, 8                                    # generate_sine_wave.py: 20, 1000, 100
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype('float64')
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=8, line_search_fn=line_search_fn)
    losses = []
    with torch.no_grad():
        before = criterion(seq(test_input), test_target).item()
    for i in range(3):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        with torch.no_grad():
            future = 5
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            y = pred.detach().cpu().numpy()
    assert y.shape == (3, L - 1 + 5)
    assert losses[-1] < 0.2 * losses[0], losses     # measured: 0.59 -> 0.0032; 0.0042 (wolfe)
    assert loss.item() < 0.2 * before, (before, loss.item())
    assert_gradients_match_finite_differences(lambda: criterion(seq(input[:, :8]),
                                                                target[:, :8]),
                                              list(seq.parameters()))


# ----------------------------------------------------------------------------- Dataset + DataLoader

from minigrad.utils.data import DataLoader, Dataset, TensorDataset  # noqa: E402


class SignDataset(Dataset):
    """Sequences of numbers; the label says whether their sum is positive."""

    def __init__(self, n, length, seed):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, length, 1))
        self.y = (self.x.sum(axis=(1, 2)) > 0).astype(np.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return torch.from_numpy(self.x[idx]), int(self.y[idx])


class GRUClassifier(nn.Module):
    def __init__(self, hidden_size, num_classes):
        super().__init__()
        self.gru = nn.GRU(1, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        out, h_n = self.gru(x)
        return self.fc(h_n[-1])


@pytest.mark.usefixtures("on_the_host")
def test_gru_classifier_trains_from_a_dataloader():
    train_set = SignDataset(48, 6, seed=0)
    train_loader = DataLoader(train_set, batch_size=8, shuffle=True,
                              generator=torch.Generator().manual_seed(0))
    x_all = torch.from_numpy(train_set.x)
    y_all = torch.from_numpy(train_set.y)
    eval_loader = DataLoader(TensorDataset(x_all, y_all), batch_size=16)
    model = GRUClassifier(8, 2)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.05)

    def evaluate():
        model.eval()
        total, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in eval_loader:
                logits = model(xb)
                total += criterion(logits, yb).item() * len(yb)
                correct += (logits.argmax(dim=1) == yb).sum().item()
        return total / len(train_set), correct / len(train_set)

    before, _ = evaluate()
    for epoch in range(12):
        model.train()
        for xb, yb in train_loader:
            assert xb.shape[1:] == (6, 1) and yb.dtype == torch.long
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
    after, accuracy = evaluate()
    assert len(train_loader) == 6
    assert after < 0.1 * before and accuracy > 0.9, (before, after, accuracy)  # 0.76 -> 0.008
    xb, yb = next(iter(eval_loader))
    assert_gradients_match_finite_differences(lambda: criterion(model(xb), yb),
                                              list(model.parameters()))


# ----------------------------------------------------------------------------- save and reload

def test_language_model_saved_and_reloaded_mid_training_resumes(tmp_path):
    ntokens = 7
    corpus = torch.tensor([(2 * i) % ntokens for i in range(3 * 41)])
    train_data = batchify(corpus, 3)
    criterion = nn.CrossEntropyLoss()

    def train_epoch(model, optimizer):
        model.train()
        hidden = model.init_hidden(3)
        for i in range(0, train_data.size(0) - 1, 5):
            data, targets = get_batch(train_data, i)
            hidden = repackage_hidden(hidden)
            optimizer.zero_grad()
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()

    def evaluate(model):
        model.eval()
        data, targets = get_batch(train_data, 0, bptt=40)
        with torch.no_grad():
            return criterion(model(data, model.init_hidden(3))[0], targets).item()

    model = RNNModel("LSTM", ntokens, 8, 8, 1, dropout=0.0)
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    before = evaluate(model)
    for epoch in range(3):
        train_epoch(model, optimizer)
    mid = evaluate(model)
    path = tmp_path / "model.pt"
    with open(path, 'wb') as f:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": 3}, f)
    del model, optimizer

    with open(path, 'rb') as f:
        checkpoint = torch.load(f)
    model = RNNModel("LSTM", ntokens, 8, 8, 1, dropout=0.0)
    model.load_state_dict(checkpoint["model"])
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    optimizer.load_state_dict(checkpoint["optimizer"])
    assert checkpoint["epoch"] == 3
    assert evaluate(model) == mid                           # the same weights came back
    for epoch in range(3):
        train_epoch(model, optimizer)
    after = evaluate(model)
    assert mid < 0.8 * before and after < 0.5 * mid, (before, mid, after)  # 1.95, 1.08, 0.22
    data, targets = get_batch(train_data, 0)
    assert_gradients_match_finite_differences(
        lambda: criterion(model(data, model.init_hidden(3))[0], targets),
        list(model.parameters()))


# ----------------------------------------------------------------------------- NumPy and tensors

@pytest.mark.usefixtures("on_the_host")
def test_numpy_and_tensors_mixed_freely_in_an_rnn_regression():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4 * np.pi, 41)
    series = np.sin(t) + 0.05 * rng.standard_normal(t.shape)
    windows = np.stack([series[i:i + 8] for i in range(len(series) - 8)])    # (33, 8)
    x = torch.from_numpy(windows[:, :-1, None])             # (N, T, 1)
    y = torch.from_numpy(windows[:, -1:])                   # (N, 1)
    H = 6
    W_xh = torch.from_numpy(rng.standard_normal((1, H)) * 0.5).requires_grad_()
    W_hh = torch.from_numpy(rng.standard_normal((H, H)) * 0.3).requires_grad_()
    b_h = torch.zeros(H, dtype=torch.float64, requires_grad=True)
    W_hy = torch.from_numpy(rng.standard_normal((H, 1)) * 0.5).requires_grad_()
    params = [W_xh, W_hh, b_h, W_hy]

    def predict(x):
        h = torch.zeros(x.shape[0], H, dtype=torch.float64)
        for step in range(x.shape[1]):
            h = torch.tanh(x[:, step] @ W_xh + h @ W_hh + b_h)
        return h @ W_hy

    def loss_fn():
        return ((predict(x) - y) ** 2).mean()

    history = []
    for it in range(150):
        loss = loss_fn()
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        history.append(loss.item())
    pred = predict(x).detach().cpu().numpy()                # back to NumPy for the metrics
    rmse = float(np.sqrt(np.mean((pred - windows[:, -1:]) ** 2)))
    losses = np.asarray(history)
    assert isinstance(pred, np.ndarray) and pred.shape == (33, 1)
    np.testing.assert_allclose(np.asarray(y), windows[:, -1:])   # np.asarray reads a tensor
    assert np.asarray(W_hh.detach()).shape == (H, H)
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])   # measured: 2.24 -> 0.0056
    assert rmse == pytest.approx(math.sqrt(loss_fn().item()), rel=1e-9)
    windows[0, 0] = 123.0                                   # from_numpy shares the memory
    assert x[0, 0, 0].item() == 123.0
    windows[0, 0] = series[0]
    assert_gradients_match_finite_differences(loss_fn, params)


# ----------------------------------------------------------------------------- NLP tutorials

def prepare_sequence(seq, to_ix):
    idxs = [to_ix[w] for w in seq]
    return torch.tensor(idxs, dtype=torch.long)


class LSTMTagger(nn.Module):

    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super(LSTMTagger, self).__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


def test_lstm_part_of_speech_tagger_trains():
    training_data = [
        ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
        ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
    ]
    word_to_ix = {}
    for sent, tags in training_data:
        for word in sent:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    tag_to_ix = {"DET": 0, "NN": 1, "V": 2}
    model = LSTMTagger(6, 6, len(word_to_ix), len(tag_to_ix))
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def total_loss():
        with torch.no_grad():
            return sum(loss_function(model(prepare_sequence(s, word_to_ix)),
                                     prepare_sequence(t, tag_to_ix)).item()
                       for s, t in training_data)

    before = total_loss()
    for epoch in range(150):
        for sentence, tags in training_data:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = prepare_sequence(tags, tag_to_ix)
            tag_scores = model(sentence_in)
            loss = loss_function(tag_scores, targets)
            loss.backward()
            optimizer.step()
    after = total_loss()
    with torch.no_grad():
        tag_scores = model(prepare_sequence(training_data[0][0], word_to_ix))
    assert tag_scores.argmax(dim=1).tolist() == [0, 1, 2, 0, 1]   # DET NN V DET NN
    assert after < 0.25 * before, (before, after)          # measured: 2.43 -> 0.42
    s, t = training_data[0]
    assert_gradients_match_finite_differences(
        lambda: loss_function(model(prepare_sequence(s, word_to_ix)),
                              prepare_sequence(t, tag_to_ix)), list(model.parameters()))


class NGramLanguageModeler(nn.Module):

    def __init__(self, vocab_size, embedding_dim, context_size):
        super(NGramLanguageModeler, self).__init__()
        self.embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.linear1 = nn.Linear(context_size * embedding_dim, 32)
        self.linear2 = nn.Linear(32, vocab_size)

    def forward(self, inputs):
        embeds = self.embeddings(inputs).view((1, -1))
        out = F.relu(self.linear1(embeds))
        out = self.linear2(out)
        log_probs = F.log_softmax(out, dim=1)
        return log_probs


def test_ngram_language_model_trains():
    test_sentence = ("when forty winters shall besiege thy brow and dig deep trenches in "
                     "thy beauty's field thy youth's proud livery so gazed on now").split()
    trigrams = [([test_sentence[i], test_sentence[i + 1]], test_sentence[i + 2])
                for i in range(len(test_sentence) - 2)]
    vocab = sorted(set(test_sentence))
    word_to_ix = {word: i for i, word in enumerate(vocab)}
    losses = []
    loss_function = nn.NLLLoss()
    model = NGramLanguageModeler(len(vocab), 10, 2)
    optimizer = optim.SGD(model.parameters(), lr=0.05)

    def step_loss(context, target):
        context_idxs = torch.tensor([word_to_ix[w] for w in context], dtype=torch.long)
        log_probs = model(context_idxs)
        return loss_function(log_probs, torch.tensor([word_to_ix[target]], dtype=torch.long))

    for epoch in range(10):
        total_loss = 0
        for context, target in trigrams:
            model.zero_grad()
            loss = step_loss(context, target)
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        losses.append(total_loss)
    assert all(b < a for a, b in zip(losses, losses[1:])), losses   # falls every epoch
    assert losses[-1] < 0.3 * losses[0], losses             # measured: 66.5 -> 10.8
    assert_gradients_match_finite_differences(lambda: step_loss(*trigrams[3]),
                                              list(model.parameters()))


def test_bag_of_words_classifier_in_the_variable_era_style():
    import minigrad.autograd as autograd
    data = [("me gusta comer en la cafeteria".split(), "SPANISH"),
            ("Give it to me".split(), "ENGLISH"),
            ("No creo que sea una buena idea".split(), "SPANISH"),
            ("No it is not a good idea to get lost at sea".split(), "ENGLISH")]
    test_data = [("Yo creo que si".split(), "SPANISH"),
                 ("it is lost on me".split(), "ENGLISH")]
    word_to_ix = {}
    for sent, _ in data + test_data:
        for word in sent:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    label_to_ix = {"SPANISH": 0, "ENGLISH": 1}

    class BoWClassifier(nn.Module):
        def __init__(self, num_labels, vocab_size):
            super(BoWClassifier, self).__init__()
            self.linear = nn.Linear(vocab_size, num_labels)

        def forward(self, bow_vec):
            return F.log_softmax(self.linear(bow_vec), dim=1)

    def make_bow_vector(sentence, word_to_ix):
        vec = torch.zeros(len(word_to_ix))
        for word in sentence:
            vec[word_to_ix[word]] += 1
        return vec.view(1, -1)

    def make_target(label, label_to_ix):
        return torch.LongTensor([label_to_ix[label]])

    model = BoWClassifier(2, len(word_to_ix))
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def loss_of(instance, label):
        bow_vec = autograd.Variable(make_bow_vector(instance, word_to_ix))
        target = autograd.Variable(make_target(label, label_to_ix))
        return loss_function(model(bow_vec), target)

    creo_before = next(model.parameters())[:, word_to_ix["creo"]].tolist()
    before = sum(loss_of(*d).item() for d in data)
    for epoch in range(100):
        for instance, label in data:
            model.zero_grad()
            loss = loss_of(instance, label)
            loss.backward()
            optimizer.step()
    after = sum(loss_of(*d).item() for d in data)
    creo_after = next(model.parameters())[:, word_to_ix["creo"]].tolist()
    assert after < 0.05 * before, (before, after)           # measured: 3.30 -> 0.037
    assert creo_after[0] > creo_before[0] and creo_after[1] < creo_before[1]  # toward SPANISH
    for instance, label in test_data:
        bow_vec = autograd.Variable(make_bow_vector(instance, word_to_ix))
        assert model(bow_vec).argmax(dim=1).item() == label_to_ix[label]
    assert_gradients_match_finite_differences(lambda: loss_of(*data[0]),
                                              list(model.parameters()))


# ----------------------------------------------------------------------------- transformer tutorial

class TutorialTransformer(nn.Module):
    """transformer_tutorial.py's model (TransformerEncoder over embeddings, a linear decoder)."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super(TutorialTransformer, self).__init__()
        from minigrad.nn import TransformerEncoder, TransformerEncoderLayer
        self.model_type = 'Transformer'
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        encoder_layers = TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = TransformerEncoder(encoder_layers, nlayers)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def generate_square_subsequent_mask(self, sz):
        mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
        mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1,
                                                                             float(0.0))
        return mask

    def init_weights(self):
        initrange = 0.1
        self.encoder.weight.data.uniform_(-initrange, initrange)
        self.decoder.bias.data.zero_()
        self.decoder.weight.data.uniform_(-initrange, initrange)

    def forward(self, src, src_mask):
        src = self.encoder(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, src_mask)
        output = self.decoder(output)
        return output


def test_transformer_tutorial_trains_with_step_lr():
    ntokens, bptt = 5, 6
    corpus = torch.tensor([(i * 2) % ntokens for i in range(2 * 31)])
    train_data = batchify(corpus, 2)                        # (31, 2)
    model = TutorialTransformer(ntokens, 8, 2, 16, 1, dropout=0.0)
    criterion = nn.CrossEntropyLoss()
    lr = 0.5
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)

    def evaluate(eval_model, data_source):
        eval_model.eval()
        total_loss = 0.
        src_mask = model.generate_square_subsequent_mask(bptt)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i, bptt)
                if data.size(0) != bptt:
                    src_mask = model.generate_square_subsequent_mask(data.size(0))
                output = eval_model(data, src_mask)
                total_loss += len(data) * criterion(output.view(-1, ntokens), targets).item()
        return total_loss / (len(data_source) - 1)

    before = evaluate(model, train_data)
    lrs = []
    for epoch in range(1, 9):
        model.train()
        src_mask = model.generate_square_subsequent_mask(bptt)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i, bptt)
            optimizer.zero_grad()
            if data.size(0) != bptt:
                src_mask = model.generate_square_subsequent_mask(data.size(0))
            output = model(data, src_mask)
            loss = criterion(output.view(-1, ntokens), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
    after = evaluate(model, train_data)
    np.testing.assert_allclose(lrs, [0.5 * 0.95 ** k for k in range(8)])
    assert after < 0.1 * before, (before, after)           # measured: 1.61 -> 0.014
    data, targets = get_batch(train_data, 0, bptt)
    mask = model.generate_square_subsequent_mask(bptt)
    layer = model.transformer_encoder.layers[0]
    assert_gradients_match_finite_differences(
        lambda: criterion(model(data, mask).view(-1, ntokens), targets),
        [model.encoder.weight, model.decoder.weight, layer.self_attn.in_proj_weight,
         layer.linear2.weight])
