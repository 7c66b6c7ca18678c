"""Speech2Vec modules: masking, relative lengths and padding, the encoder's
equivalence with a packed BiRNN, decoder input dropout, bad options."""

import pytest
import torch

from speechbrain_align.nnet.speech2vec import Speech2Vec, masked_mse


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads on a shared 2-core machine run RNNs ~10x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_masking_ignores_padding():
    torch.manual_seed(0)
    for objective in ("skipgram", "cbow"):
        model = Speech2Vec(5, emb_dim=4, enc_hidden=6, dec_hidden=6, objective=objective)
        centre, clens = torch.randn(2, 7, 5), torch.tensor([7, 3]) / 7
        ctx, ctx_lens = torch.randn(3, 6, 5), torch.tensor([2, 6, 4]) / 6
        owner = torch.tensor([0, 1, 1])
        loss = masked_mse(*model(centre, clens, ctx, ctx_lens, owner))
        centre2, ctx2 = centre.clone(), ctx.clone()
        centre2[1, 3:] = 1e3  # padding only
        ctx2[0, 2:] = -1e3
        ctx2[2, 4:] = 7.0
        loss2 = masked_mse(*model(centre2, clens, ctx2, ctx_lens, owner))
        assert torch.allclose(loss, loss2), objective
        # ... while a change inside the real frames does change it.
        ctx2[0, 1] += 1.0
        centre2[1, 2] += 1.0
        loss3 = masked_mse(*model(centre2, clens, ctx2, ctx_lens, owner))
        assert not torch.allclose(loss, loss3), objective


def test_gru_and_bad_options():
    model = Speech2Vec(5, emb_dim=3, enc_hidden=4, dec_hidden=4, rnn_type="gru", enc_layers=2)
    assert model.encode(torch.randn(2, 4, 5), torch.tensor([1.0, 0.25])).shape == (2, 3)
    with pytest.raises(ValueError, match="relative lengths must lie in"):
        model.encode(torch.randn(2, 4, 5), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="rnn_type"):
        Speech2Vec(5, rnn_type="transformer")
    with pytest.raises(ValueError, match="objective"):
        Speech2Vec(5, objective="glove")


def test_encoder_equals_packed_bidirectional_rnn():
    """The padded reversal trick computes exactly what a packed BiRNN computes."""
    from torch.nn.utils.rnn import pack_padded_sequence

    from speechbrain_align.nnet.speech2vec import Speech2VecEncoder

    torch.manual_seed(0)
    for rnn_type, cls in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        enc = Speech2VecEncoder(5, 7, num_layers=2, emb_dim=3, rnn_type=rnn_type)
        ref = cls(5, 7, 2, batch_first=True, bidirectional=True)
        with torch.no_grad():
            for layer in range(2):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{name}_l{layer}").copy_(
                        getattr(enc.forward_rnns[layer], f"{name}_l0"))
                    getattr(ref, f"{name}_l{layer}_reverse").copy_(
                        getattr(enc.backward_rnns[layer], f"{name}_l0"))
        x, lens = torch.randn(4, 9, 5), torch.tensor([9, 3, 1, 6])
        _, hidden = ref(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
        hidden = hidden[0] if rnn_type == "lstm" else hidden
        expected = enc.proj(torch.cat([hidden[-2], hidden[-1]], -1))
        assert torch.allclose(enc(x, lens / 9), expected, atol=1e-5), rnn_type


def test_encoder_output_does_not_depend_on_padding():
    """Relative lengths: a segment encoded alone, in a batch padded to another
    length, or with garbage in its padding gives the same vector."""
    torch.manual_seed(0)
    model = Speech2Vec(5, emb_dim=4, enc_hidden=6, dec_hidden=6, enc_layers=2).eval()
    segments = [torch.randn(n, 5) for n in (7, 3, 11, 1)]
    alone = torch.cat([model.encode(s[None]) for s in segments])  # no lengths: full length
    for pad_to in (11, 16, 40):
        batch = torch.full((4, pad_to, 5), 1e3)  # padding full of large values
        for i, s in enumerate(segments):
            batch[i, : len(s)] = s
        lens = torch.tensor([len(s) for s in segments]) / pad_to
        assert torch.allclose(model.encode(batch, lens), alone, atol=1e-5), pad_to
    # a relative length off by one frame gives another vector (the test can fail)
    wrong = torch.tensor([len(s) for s in segments]) / 11
    wrong[0] += 1 / 11
    padded = torch.nn.utils.rnn.pad_sequence(segments, batch_first=True)
    assert not torch.allclose(model.encode(padded, wrong)[0], alone[0], atol=1e-3)
    # the loss ignores padding of the same rows padded to a longer length
    owner = torch.tensor([0, 0, 1])
    c, cl = padded[:2], torch.tensor([7, 3]) / 11
    x, xl = padded[1:], torch.tensor([3, 11, 1]) / 11
    loss = masked_mse(*model(c, cl, x, xl, owner))
    c2 = torch.cat([c, torch.randn(2, 5, 5)], 1)
    x2 = torch.cat([x, torch.randn(3, 9, 5)], 1)
    loss2 = masked_mse(*model(c2, cl * 11 / 16, x2, xl * 11 / 20, owner))
    assert torch.allclose(loss, loss2, atol=1e-6)


def test_decoder_input_dropout():
    from speechbrain_align.nnet.speech2vec import Speech2VecDecoder

    torch.manual_seed(0)
    dec = Speech2VecDecoder(3, 4, hidden_size=5, input_dropout=1.0)
    emb, targets = torch.randn(2, 3), torch.randn(2, 6, 4)
    dec.train()  # every fed-back frame hidden: targets cannot leak into predictions
    assert torch.allclose(dec(emb, targets), dec(emb, targets + 5.0))
    dec.eval()  # plain teacher forcing at evaluation
    assert not torch.allclose(dec(emb, targets), dec(emb, targets + 5.0))
