#include "nodeconf/unified_diff.hpp"

#include "nodeconf/text.hpp"

#include <algorithm>
#include <vector>

namespace bcp::nodeconf {
namespace {

enum class op { keep, del, add };

struct edit {
    op kind;
    std::size_t a;  ///< index in before (keep/del)
    std::size_t b;  ///< index in after (keep/add)
};

// Longest common subsequence by dynamic programming: node config files are at most a few
// thousand lines, so O(n·m) is fine and the output is the minimal, stable diff.
std::vector<edit> diff_lines(const std::vector<text::line>& a, const std::vector<text::line>& b) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    std::vector<std::vector<unsigned>> lcs(n + 1, std::vector<unsigned>(m + 1, 0));
    auto same = [&](std::size_t i, std::size_t j) {
        return a[i].body == b[j].body && a[i].eol.empty() == b[j].eol.empty();
    };
    for (std::size_t i = n; i-- > 0;) {
        for (std::size_t j = m; j-- > 0;) {
            lcs[i][j] = same(i, j) ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
        }
    }
    std::vector<edit> out;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && same(i, j)) {
            out.push_back({op::keep, i++, j++});
        } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
            out.push_back({op::del, i++, j});  // deletions first, as diff -u prints them
        } else {
            out.push_back({op::add, i, j++});
        }
    }
    return out;
}

std::string range(std::size_t start, std::size_t count) {
    // diff -u: "start,count", start 1-based; an empty range names the line before it.
    const std::size_t shown = count == 0 ? start : start + 1;
    return count == 1 ? std::to_string(shown) : std::to_string(shown) + "," + std::to_string(count);
}

}  // namespace

std::string unified_diff(std::string_view before, std::string_view after, std::string_view from,
                         std::string_view to, int context) {
    const auto a = text::split(before);
    const auto b = text::split(after);
    const auto edits = diff_lines(a, b);
    if (std::all_of(edits.begin(), edits.end(), [](const edit& e) { return e.kind == op::keep; })) {
        return {};
    }
    std::string out = "--- " + std::string(from) + "\n+++ " + std::string(to) + "\n";
    const std::size_t ctx = static_cast<std::size_t>(context);
    std::size_t k = 0;
    while (k < edits.size()) {
        if (edits[k].kind == op::keep) {
            ++k;
            continue;
        }
        // A hunk: back up `ctx` lines, then extend while changes are within 2*ctx of each other.
        std::size_t start = k >= ctx ? k - ctx : 0;
        while (start < k && edits[start].kind != op::keep) {
            ++start;
        }
        std::size_t end = k;
        std::size_t last_change = k;
        while (end < edits.size()) {
            if (edits[end].kind != op::keep) {
                last_change = end;
            } else if (end - last_change > 2 * ctx) {
                break;
            }
            ++end;
        }
        end = std::min(edits.size(), last_change + ctx + 1);
        std::size_t a_count = 0;
        std::size_t b_count = 0;
        for (std::size_t x = start; x < end; ++x) {
            a_count += edits[x].kind != op::add ? 1 : 0;
            b_count += edits[x].kind != op::del ? 1 : 0;
        }
        out += "@@ -" + range(edits[start].a, a_count) + " +" + range(edits[start].b, b_count) +
               " @@\n";
        for (std::size_t x = start; x < end; ++x) {
            const auto& e = edits[x];
            const text::line& l = e.kind == op::add ? b[e.b] : a[e.a];
            out += e.kind == op::keep ? ' ' : e.kind == op::del ? '-' : '+';
            out += l.body + "\n";
            if (l.eol.empty()) {
                out += "\\ No newline at end of file\n";
            }
        }
        k = end;
    }
    return out;
}

}  // namespace bcp::nodeconf
