// Data layout operators: Transpose, Concat, Pad, Reshape. They only move values.
#include <algorithm>

#include <fmt/ranges.h>

#include "kpu/common/shape.h"
#include "reference_ops.h"

namespace kpu::loader::reference {

Values transpose(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    const std::size_t rank = x.shape.size();
    if (p.perm.size() != rank)
        return fail("params.perm has {} entries for an input of rank {}", p.perm.size(), rank);
    std::vector<bool> seen(rank, false);
    for (std::int64_t d : p.perm) {
        if (d < 0 || static_cast<std::size_t>(d) >= rank || seen[d])
            return fail("params.perm [{}] is not a permutation of the {} input dims",
                        fmt::join(p.perm, ", "), rank);
        seen[d] = true;
    }
    Shape expected(rank);
    for (std::size_t d = 0; d < rank; ++d)
        expected[d] = x.shape[p.perm[d]];
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());

    // Output dim d walks input dim perm[d].
    const std::vector<std::int64_t> inStrides = stridesOf(x.shape);
    std::vector<std::int64_t> stride(rank);
    for (std::size_t d = 0; d < rank; ++d)
        stride[d] = inStrides[p.perm[d]];
    const std::int64_t total = product(out);
    std::vector<double> result(static_cast<std::size_t>(total));
    std::vector<std::int64_t> index(rank, 0);
    std::int64_t from = 0;
    for (std::int64_t o = 0; o < total; ++o) {
        result[o] = x.values[from];
        for (std::size_t d = rank; d-- > 0;) {
            ++index[d];
            from += stride[d];
            if (index[d] < out[d])
                break;
            from -= stride[d] * out[d];
            index[d] = 0;
        }
    }
    return result;
}

Values concat(Inputs in, OutShape out, const Params& p) {
    if (in.empty())
        return fail("expects at least one input");
    auto axis = normalizeAxis(p.axis, out.size());
    if (!axis)
        return std::unexpected(axis.error());
    std::int64_t along = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const Shape& s = in[i].shape;
        bool ok = s.size() == out.size();
        for (std::size_t d = 0; ok && d < s.size(); ++d)
            ok = d == *axis || s[d] == out[d];
        if (!ok)
            return fail("input {} has shape {}, which does not match the output {} outside "
                        "axis {}",
                        i, formatShape(s), formatShape(out), *axis);
        along += s[*axis];
    }
    if (along != out[*axis])
        return fail("inputs add up to {} along axis {}, the output has {}", along, *axis,
                    out[*axis]);

    // Each input contributes a contiguous chunk of in[axis] * inner values per outer index.
    const std::int64_t outer = product(out.first(*axis));
    const std::int64_t inner = product(out.subspan(*axis + 1));
    std::vector<double> result;
    result.reserve(static_cast<std::size_t>(product(out)));
    for (std::int64_t o = 0; o < outer; ++o)
        for (const Operand& x : in) {
            const std::int64_t chunk = x.shape[*axis] * inner;
            const auto begin = x.values.begin() + o * chunk;
            result.insert(result.end(), begin, begin + chunk);
        }
    return result;
}

Values pad(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    const std::size_t rank = x.shape.size();
    std::vector<std::int64_t> padding = p.padding;
    if (!p.hasPadding)
        padding.assign(2 * rank, 0);
    if (padding.size() != 2 * rank)
        return fail("params.padding has {} entries, expected {} (before and after for each of "
                    "{} dims)",
                    padding.size(), 2 * rank, rank);
    Shape expected(rank);
    for (std::size_t d = 0; d < rank; ++d)
        expected[d] = x.shape[d] + padding[2 * d] + padding[2 * d + 1];
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());

    std::vector<double> result(static_cast<std::size_t>(product(out)), p.padValue);
    if (rank == 0) {
        result[0] = x.values[0];
        return result;
    }
    // Copy the input row by row (last dim) to its place in the output.
    const std::vector<std::int64_t> outStrides = stridesOf(out);
    std::int64_t to = 0;
    for (std::size_t d = 0; d < rank; ++d)
        to += padding[2 * d] * outStrides[d];
    const std::size_t last = rank - 1;
    const std::int64_t inner = x.shape[last];
    const std::int64_t total = product(x.shape);
    std::vector<std::int64_t> index(rank, 0);
    for (std::int64_t from = 0; from < total; from += inner) {
        std::copy_n(x.values.begin() + from, inner, result.begin() + to);
        for (std::size_t d = last; d-- > 0;) {
            ++index[d];
            to += outStrides[d];
            if (index[d] < x.shape[d])
                break;
            to -= outStrides[d] * x.shape[d];
            index[d] = 0;
        }
    }
    return result;
}

Values reshape(Inputs in, OutShape out) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    if (product(in[0].shape) != product(out))
        return fail("input {} and output {} have different element counts",
                    formatShape(in[0].shape), formatShape(out));
    return std::vector<double>(in[0].values.begin(), in[0].values.end());
}

} // namespace kpu::loader::reference
