"""The voice encoder's parts, checked against their definitions: the ONNX graph computes
what a PyTorch LSTM with the same weights computes (its gates reordered), and the mel
spectrogram puts a tone in the band that holds its frequency."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from opendems.adapters.speech import speakers


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _torch_lstm(state: dict[str, np.ndarray], x: np.ndarray, layers: int) -> np.ndarray:
    """PyTorch's LSTM (gates input, forget, cell, output), final hidden state of the last
    layer; x: (frames, batch, features)."""
    for n in range(layers):
        w, r = state[f"lstm.weight_ih_l{n}"], state[f"lstm.weight_hh_l{n}"]
        b = state[f"lstm.bias_ih_l{n}"] + state[f"lstm.bias_hh_l{n}"]
        hidden = r.shape[1]
        h = np.zeros((x.shape[1], hidden))
        c = np.zeros((x.shape[1], hidden))
        out = []
        for step in x:
            i, f, g, o = np.split(step @ w.T + h @ r.T + b, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            out.append(h)
        x = np.stack(out)
    return h


def test_the_onnx_graph_is_the_pytorch_network() -> None:
    rng = np.random.default_rng(3)
    hidden, layers = 8, 3
    state: dict[str, np.ndarray] = {}
    for n in range(layers):
        inputs = speakers.MELS if n == 0 else hidden
        state[f"lstm.weight_ih_l{n}"] = rng.normal(0, 0.4, (4 * hidden, inputs)).astype(np.float32)
        state[f"lstm.weight_hh_l{n}"] = rng.normal(0, 0.4, (4 * hidden, hidden)).astype(np.float32)
        state[f"lstm.bias_ih_l{n}"] = rng.normal(0, 0.2, 4 * hidden).astype(np.float32)
        state[f"lstm.bias_hh_l{n}"] = rng.normal(0, 0.2, 4 * hidden).astype(np.float32)
    state["linear.weight"] = rng.normal(0, 0.5, (hidden, hidden)).astype(np.float32)
    state["linear.bias"] = rng.normal(0, 0.1, hidden).astype(np.float32)
    x = rng.normal(0, 1, (12, 5, speakers.MELS)).astype(np.float32)

    session = ort.InferenceSession(speakers.onnx_graph(state, layers), providers=["CPUExecutionProvider"])
    got = session.run(None, {"mels": x})[0]

    h = _torch_lstm({k: v.astype(np.float64) for k, v in state.items()}, x.astype(np.float64), layers)
    raw = np.maximum(h @ state["linear.weight"].T + state["linear.bias"], 0)
    want = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_tone_lands_in_the_mel_band_of_its_frequency() -> None:
    filters = speakers.mel_filters()
    freqs = np.linspace(0, speakers.SAMPLE_RATE / 2, filters.shape[1])
    for hz in (300.0, 1000.0, 3000.0):
        t = np.arange(speakers.SAMPLE_RATE) / speakers.SAMPLE_RATE
        mel = speakers.mel_spectrogram(np.sin(2 * np.pi * hz * t).astype(np.float32))
        assert mel.shape == (1 + speakers.SAMPLE_RATE // speakers.HOP, speakers.MELS)
        band = int(np.argmax(mel[50]))
        centre = freqs[int(np.argmax(filters[band]))]
        assert abs(centre - hz) <= 0.15 * hz, (hz, centre)
        # Slaney's norm: each band's filter has unit area in hertz times 2 / its width.
        assert filters.min() >= 0
