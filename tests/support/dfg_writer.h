// Writes small .dfg graphs in the current domain_flow grammar, for tests of generated shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace kpu::test {

inline std::string tensorType(const std::vector<std::int64_t>& shape,
                              const std::string& dtype = "f32") {
    return fmt::format("tensor<{}x{}>", fmt::join(shape, "x"), dtype);
}

// out = A x B (+ C): A and B (and C) are CONSTANT nodes, the result is returned.
inline std::string matmulDfg(const std::string& name, const std::vector<std::int64_t>& a,
                             const std::vector<std::int64_t>& b,
                             const std::vector<std::int64_t>& out,
                             const std::vector<std::int64_t>& c = {},
                             const std::string& dtype = "f32") {
    const bool three = !c.empty();
    const std::string ta = tensorType(a, dtype), tb = tensorType(b, dtype),
                      to = tensorType(out, dtype);
    const std::string tc = three ? tensorType(c, dtype) : "";
    const int mm = three ? 3 : 2, ret = mm + 1;
    std::string s = fmt::format("Domain Flow Graph: {}\nDIRECTED\nRUNNING_NODE_ID {}\nNODES {}\n",
                                name, ret, ret + 1);
    s += fmt::format("NODE 0 : |const.A|CONSTANT|0|||0:A|0:{}\n", ta);
    s += fmt::format("NODE 1 : |const.B|CONSTANT|0|||0:B|0:{}\n", tb);
    if (three)
        s += fmt::format("NODE 2 : |const.C|CONSTANT|0|||0:C|0:{}\n", tc);
    s += fmt::format("NODE {} : |matmul|MATMUL|1|0:{},1:{}{}||0:Out|0:{}\n", mm, ta, tb,
                     three ? ",2:" + tc : "", to);
    s += fmt::format("NODE {} : |output|FUNCTION_RETURN|2|0:{}|target:memory|0:Out|0:{}\n", ret, to,
                     to);
    s += fmt::format("EDGES {}\n", three ? 4 : 3);
    s += fmt::format("EDGE 0 -> {} : 0|true|{}|32|0|0|1,1,1\n", mm, ta);
    s += fmt::format("EDGE 1 -> {} : 0|true|{}|32|0|1|1,1,1\n", mm, tb);
    if (three)
        s += fmt::format("EDGE 2 -> {} : 0|false|{}|32|0|2|1,1,1\n", mm, tc);
    s += fmt::format("EDGE {} -> {} : 0|false|{}|32|0|0|1,1,1\n", mm, ret, to);
    return s;
}

} // namespace kpu::test
