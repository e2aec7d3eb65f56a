// MatMul, FullyConnected, Conv2D, DepthwiseConv2D and Im2Col: dot products accumulated in double
// in plain index order.
#include "kpu/common/shape.h"
#include "reference_ops.h"

namespace kpu::loader::reference {
namespace {

// The optional bias of a linear operator: `n` values or none.
Expected<std::span<const double>> readBias(const Operand* bias, std::int64_t n) {
    if (!bias)
        return std::span<const double>{};
    if (!isVectorOf(bias->shape, n))
        return fail("bias has shape {}, expected {} elements along one dimension",
                    formatShape(bias->shape), n);
    return bias->values;
}

} // namespace

Values matMul(Inputs in, OutShape out, const Params& p) {
    // The bias (params.bias_input) may sit at any position; the other inputs are A, B, C? in order.
    const Operand* bias = nullptr;
    std::vector<const Operand*> ops;
    if (p.biasInput >= 0 && static_cast<std::size_t>(p.biasInput) >= in.size())
        return fail("params.bias_input {} is not an input position (the node has {} inputs)",
                    p.biasInput, in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (p.biasInput >= 0 && i == static_cast<std::size_t>(p.biasInput))
            bias = &in[i];
        else
            ops.push_back(&in[i]);
    }
    if (ops.size() < 2 || ops.size() > 3)
        return fail("expects inputs A, B and optionally C (plus a bias), got {} operand{}",
                    ops.size(), ops.size() == 1 ? "" : "s");
    if (auto r = checkActivation(p.activation); !r)
        return std::unexpected(r.error());
    const Operand& a = *ops[0];
    const Operand& b = *ops[1];
    const Operand* c = ops.size() == 3 ? ops[2] : nullptr;
    if (a.shape.size() < 2 || b.shape.size() < 2 || out.size() < 2)
        return fail("operands and output need rank >= 2 (A {}, B {}, output {})",
                    formatShape(a.shape), formatShape(b.shape), formatShape(out));
    const std::size_t ra = a.shape.size(), rb = b.shape.size(), ro = out.size();
    const std::int64_t M = a.shape[ra - 2], K = a.shape[ra - 1];
    const std::int64_t KB = p.transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const std::int64_t N = p.transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (KB != K)
        return fail("A {} and B {}{} disagree on K ({} vs {})", formatShape(a.shape),
                    formatShape(b.shape), p.transposeB ? " (transposed)" : "", K, KB);
    if (out[ro - 2] != M || out[ro - 1] != N)
        return fail("output {} is not ...x{}x{}", formatShape(out), M, N);
    if (c && (c->shape.size() < 2 || c->shape[c->shape.size() - 2] != M || c->shape.back() != N))
        return fail("C has shape {}, expected ...x{}x{}", formatShape(c->shape), M, N);
    auto biasValues = readBias(bias, N);
    if (!biasValues)
        return std::unexpected(biasValues.error());

    // Batch dims broadcast numpy-style; strides count whole matrices.
    const std::span<const std::int64_t> batch = out.subspan(0, ro - 2);
    const auto batchStrides = [&](const Operand& o,
                                  const char* what) -> Expected<std::vector<std::int64_t>> {
        auto s = broadcastStrides(std::span(o.shape).first(o.shape.size() - 2), batch);
        if (!s)
            return fail("batch dims of {} {} do not broadcast to the output's {}", what,
                        formatShape(o.shape), formatShape(out));
        return s;
    };
    auto sa = batchStrides(a, "A");
    if (!sa)
        return std::unexpected(sa.error());
    auto sb = batchStrides(b, "B");
    if (!sb)
        return std::unexpected(sb.error());
    std::vector<std::int64_t> sc(batch.size(), 0);
    if (c) {
        auto s = batchStrides(*c, "C");
        if (!s)
            return std::unexpected(s.error());
        sc = *s;
    }

    const std::int64_t batches = product(batch);
    std::vector<double> result(static_cast<std::size_t>(batches * M * N));
    std::vector<double> row(static_cast<std::size_t>(N));
    std::vector<std::int64_t> index(batch.size(), 0);
    std::int64_t ia = 0, ib = 0, ic = 0; // batch element of A, B, C
    for (std::int64_t bi = 0; bi < batches; ++bi) {
        const double* A = a.values.data() + ia * M * K;
        const double* B = b.values.data() + ib * K * N;
        const double* C = c ? c->values.data() + ic * M * N : nullptr;
        double* O = result.data() + bi * M * N;
        for (std::int64_t i = 0; i < M; ++i) {
            if (p.transposeB) {
                for (std::int64_t j = 0; j < N; ++j) {
                    double sum = 0;
                    for (std::int64_t k = 0; k < K; ++k)
                        sum += A[i * K + k] * B[j * K + k];
                    row[static_cast<std::size_t>(j)] = sum;
                }
            } else {
                // k outside j: still one sequential sum over k per element, but B is read
                // along its rows.
                std::fill(row.begin(), row.end(), 0.0);
                for (std::int64_t k = 0; k < K; ++k) {
                    const double aik = A[i * K + k];
                    const double* Bk = B + k * N;
                    for (std::int64_t j = 0; j < N; ++j)
                        row[static_cast<std::size_t>(j)] += aik * Bk[j];
                }
            }
            for (std::int64_t j = 0; j < N; ++j) {
                double v = row[static_cast<std::size_t>(j)];
                if (C)
                    v += C[i * N + j];
                if (!biasValues->empty())
                    v += (*biasValues)[static_cast<std::size_t>(j)];
                O[i * N + j] = activate(p.activation, v, p);
            }
        }
        // Next batch index (row-major odometer), keeping each operand's batch element.
        for (std::size_t d = batch.size(); d-- > 0;) {
            ++index[d];
            ia += (*sa)[d];
            ib += (*sb)[d];
            ic += sc[d];
            if (index[d] < batch[d])
                break;
            ia -= (*sa)[d] * batch[d];
            ib -= (*sb)[d] * batch[d];
            ic -= sc[d] * batch[d];
            index[d] = 0;
        }
    }
    return result;
}

Values fullyConnected(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 2, 3); !r)
        return std::unexpected(r.error());
    if (auto r = checkActivation(p.activation); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    const Operand& w = in[1];
    if (x.shape.empty())
        return fail("input x must have rank >= 1");
    if (w.shape.size() != 2)
        return fail("weights have shape {}, expected NxK", formatShape(w.shape));
    const std::int64_t K = x.shape.back(), N = w.shape[0];
    if (w.shape[1] != K)
        return fail("weights {} do not match x {} (K = {})", formatShape(w.shape),
                    formatShape(x.shape), K);
    Shape expected(x.shape.begin(), x.shape.end() - 1);
    expected.push_back(N);
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());
    auto bias = readBias(in.size() == 3 ? &in[2] : nullptr, N);
    if (!bias)
        return std::unexpected(bias.error());

    const std::int64_t rows = product(x.shape) / K;
    std::vector<double> result(static_cast<std::size_t>(rows * N));
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t n = 0; n < N; ++n) {
            double sum = 0;
            for (std::int64_t k = 0; k < K; ++k)
                sum += x.values[static_cast<std::size_t>(r * K + k)] *
                       w.values[static_cast<std::size_t>(n * K + k)];
            if (!bias->empty())
                sum += (*bias)[static_cast<std::size_t>(n)];
            result[static_cast<std::size_t>(r * N + n)] = activate(p.activation, sum, p);
        }
    return result;
}

Values conv2D(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 2, 3); !r)
        return std::unexpected(r.error());
    if (auto r = checkActivation(p.activation); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    const Operand& w = in[1];
    if (x.shape.size() != 4)
        return fail("input has shape {}, expected NxHxWxC", formatShape(x.shape));
    if (w.shape.size() != 4)
        return fail("weights have shape {}, expected OxKHxKWxC", formatShape(w.shape));
    const std::int64_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
    const std::int64_t O = w.shape[0], KH = w.shape[1], KW = w.shape[2];
    if (w.shape[3] != C)
        return fail("weights {} do not match the input's {} channels", formatShape(w.shape), C);
    auto win = readWindow(p, KH, KW);
    if (!win)
        return std::unexpected(win.error());
    auto OH = windowExtent("height", H, KH, win->sh, win->dh, win->padTop, win->padBottom);
    if (!OH)
        return std::unexpected(OH.error());
    auto OW = windowExtent("width", W, KW, win->sw, win->dw, win->padLeft, win->padRight);
    if (!OW)
        return std::unexpected(OW.error());
    const Shape expected{N, *OH, *OW, O};
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());
    auto bias = readBias(in.size() == 3 ? &in[2] : nullptr, O);
    if (!bias)
        return std::unexpected(bias.error());

    std::vector<double> result(static_cast<std::size_t>(N * *OH * *OW * O));
    std::size_t at = 0;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t oh = 0; oh < *OH; ++oh)
            for (std::int64_t ow = 0; ow < *OW; ++ow)
                for (std::int64_t o = 0; o < O; ++o) {
                    double sum = 0;
                    for (std::int64_t ky = 0; ky < KH; ++ky) {
                        const std::int64_t ih = oh * win->sh - win->padTop + ky * win->dh;
                        if (ih < 0 || ih >= H)
                            continue; // zero padding
                        for (std::int64_t kx = 0; kx < KW; ++kx) {
                            const std::int64_t iw = ow * win->sw - win->padLeft + kx * win->dw;
                            if (iw < 0 || iw >= W)
                                continue;
                            const double* xs = x.values.data() + ((n * H + ih) * W + iw) * C;
                            const double* ws = w.values.data() + ((o * KH + ky) * KW + kx) * C;
                            for (std::int64_t c = 0; c < C; ++c)
                                sum += xs[c] * ws[c];
                        }
                    }
                    if (!bias->empty())
                        sum += (*bias)[static_cast<std::size_t>(o)];
                    result[at++] = activate(p.activation, sum, p);
                }
    return result;
}

Values depthwiseConv2D(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 2, 3); !r)
        return std::unexpected(r.error());
    if (auto r = checkActivation(p.activation); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    const Operand& w = in[1];
    if (x.shape.size() != 4)
        return fail("input has shape {}, expected NxHxWxC", formatShape(x.shape));
    if (w.shape.size() != 4)
        return fail("weights have shape {}, expected KHxKWxCxM", formatShape(w.shape));
    const std::int64_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
    const std::int64_t KH = w.shape[0], KW = w.shape[1], M = w.shape[3];
    if (w.shape[2] != C)
        return fail("weights {} do not match the input's {} channels", formatShape(w.shape), C);
    auto win = readWindow(p, KH, KW);
    if (!win)
        return std::unexpected(win.error());
    auto OH = windowExtent("height", H, KH, win->sh, win->dh, win->padTop, win->padBottom);
    if (!OH)
        return std::unexpected(OH.error());
    auto OW = windowExtent("width", W, KW, win->sw, win->dw, win->padLeft, win->padRight);
    if (!OW)
        return std::unexpected(OW.error());
    const std::int64_t CM = C * M;
    const Shape expected{N, *OH, *OW, CM};
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());
    auto bias = readBias(in.size() == 3 ? &in[2] : nullptr, CM);
    if (!bias)
        return std::unexpected(bias.error());

    std::vector<double> result(static_cast<std::size_t>(N * *OH * *OW * CM));
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t oh = 0; oh < *OH; ++oh)
            for (std::int64_t ow = 0; ow < *OW; ++ow) {
                // One output pixel: all C*M channels accumulate over the window in (ky, kx)
                // order.
                double* acc = result.data() + ((n * *OH + oh) * *OW + ow) * CM;
                for (std::int64_t ky = 0; ky < KH; ++ky) {
                    const std::int64_t ih = oh * win->sh - win->padTop + ky * win->dh;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (std::int64_t kx = 0; kx < KW; ++kx) {
                        const std::int64_t iw = ow * win->sw - win->padLeft + kx * win->dw;
                        if (iw < 0 || iw >= W)
                            continue;
                        const double* xs = x.values.data() + ((n * H + ih) * W + iw) * C;
                        const double* ws = w.values.data() + (ky * KW + kx) * CM;
                        for (std::int64_t c = 0; c < C; ++c)
                            for (std::int64_t m = 0; m < M; ++m)
                                acc[c * M + m] += xs[c] * ws[c * M + m];
                    }
                }
                for (std::int64_t j = 0; j < CM; ++j) {
                    double v = acc[j];
                    if (!bias->empty())
                        v += (*bias)[static_cast<std::size_t>(j)];
                    acc[j] = activate(p.activation, v, p);
                }
            }
    return result;
}

Values im2Col(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    if (x.shape.size() != 4)
        return fail("input has shape {}, expected NxHxWxC", formatShape(x.shape));
    const std::int64_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
    auto win = readWindow(p, 0, 0);
    if (!win)
        return std::unexpected(win.error());
    auto OH = windowExtent("height", H, win->kh, win->sh, win->dh, win->padTop, win->padBottom);
    if (!OH)
        return std::unexpected(OH.error());
    auto OW = windowExtent("width", W, win->kw, win->sw, win->dw, win->padLeft, win->padRight);
    if (!OW)
        return std::unexpected(OW.error());
    const Shape expected{N * *OH * *OW, win->kh * win->kw * C};
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());

    std::vector<double> result(static_cast<std::size_t>(product(expected)), 0.0);
    std::size_t at = 0;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t oh = 0; oh < *OH; ++oh)
            for (std::int64_t ow = 0; ow < *OW; ++ow)
                for (std::int64_t ky = 0; ky < win->kh; ++ky)
                    for (std::int64_t kx = 0; kx < win->kw; ++kx) {
                        const std::int64_t ih = oh * win->sh - win->padTop + ky * win->dh;
                        const std::int64_t iw = ow * win->sw - win->padLeft + kx * win->dw;
                        const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                        for (std::int64_t c = 0; c < C; ++c, ++at)
                            if (inside)
                                result[at] = x.values[static_cast<std::size_t>(
                                    ((n * H + ih) * W + iw) * C + c)];
                    }
    return result;
}

} // namespace kpu::loader::reference
