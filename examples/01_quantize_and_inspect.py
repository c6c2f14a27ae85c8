"""Quantize a tensor and look inside: codes, scales, bytes, and a worked block.

Shows what a QTensor holds for MXFP4 and NVFP4 (packed E2M1 codes, two per
byte, lower index in the low nibble; E8M0 or E4M3 block scales; NVFP4's FP32
tensor scale), decodes one block by hand and checks it against dequantize().

Run:  .venv/bin/python examples/01_quantize_and_inspect.py
"""
import numpy as np

import fp4train as ft
from fp4train.reference.formats import decode_e4m3

E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], np.float32)


def decode_block_by_hand(q, row, block):
    """Decode one block of a 2-D QTensor quantized along axis 1 from its raw bytes."""
    size = ft.format_info(q.format)["block"]
    nibbles = np.stack([q.codes[row] & 0xF, q.codes[row] >> 4], axis=1).ravel()
    codes = nibbles[block * size:(block + 1) * size]
    values = E2M1[codes & 7] * np.where(codes & 8, -1.0, 1.0).astype(np.float32)
    scale_byte = int(q.scales[row, block])
    if q.format == "mxfp4":  # E8M0: 2^(byte - 127)
        return values * np.float32(2.0 ** (scale_byte - 127)), f"E8M0 byte {scale_byte}"
    # NVFP4: E4M3 block scale times the decode scale 1 / s_enc
    e4m3 = decode_e4m3(np.array([scale_byte], np.uint8))[0]
    s_dec = np.float32(1) / np.float32(q.tensor_scale)
    return (values * e4m3).astype(np.float32) * s_dec, f"E4M3 byte {scale_byte} = {e4m3}"


def main():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    x[2, 5] = 9.0  # one outlier
    for fmt in ("mxfp4", "nvfp4"):
        q = ft.quantize(x, fmt, axis=1)
        print(q)
        print(f"  codes {q.codes.shape} {q.codes.dtype}, scales {q.scales.shape}, "
              f"tensor_scale {q.tensor_scale:g}, {q.nbytes} bytes for {x.nbytes} float32 bytes "
              f"({8 * q.nbytes / x.size:.2f} bits/element)")
        by_hand, scale_text = decode_block_by_hand(q, 2, 0)
        y = q.dequantize()
        size = ft.format_info(fmt)["block"]
        assert np.array_equal(by_hand, y[2, :size]), "hand decoding disagrees with dequantize"
        print(f"  row 2, block 0 ({scale_text}): first values {x[2, :6].round(3)} -> "
              f"{y[2, :6]}")
        print(f"  the outlier 9.0 became {y[2, 5]} (relative error "
              f"{abs(y[2, 5] - 9) / 9:.1%}); row 2 error {np.linalg.norm(y[2] - x[2]) / np.linalg.norm(x[2]):.3f}, "
              f"row 0 error {np.linalg.norm(y[0] - x[0]) / np.linalg.norm(x[0]):.3f}\n")
    for rule in ft.SCALE_RULES:
        y = ft.fake_quantize(np.array([[7.0, 1.0, 0.3]], np.float32), "mxfp4", scale_rule=rule)
        print(f"mxfp4 scale rule {rule:<5}: [7, 1, 0.3] -> {y[0]}")
    print("stochastic rounding of 0.3 (between 0 and 0.5, scale 1 from a block max of 4):")
    draws = [ft.fake_quantize(np.array([[4.0, 0.3]], np.float32), "mxfp4",
                              rounding="stochastic", seed=s)[0, 1] for s in range(2000)]
    print(f"  mean of 2000 seeds {np.mean(draws):.4f} (nearest gives "
          f"{ft.fake_quantize(np.array([[4.0, 0.3]], np.float32), 'mxfp4')[0, 1]})")


if __name__ == "__main__":
    main()
