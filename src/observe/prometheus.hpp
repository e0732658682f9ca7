#pragma once
// Prometheus text exposition format 0.0.4 (what every Prometheus scrapes): a `# HELP` and
// `# TYPE` line per metric family, then its samples. Label values are escaped (backslash,
// double quote, line feed), HELP text too (backslash, line feed). The metric names themselves are
// fixed in code (docs/metrics.md) and are not checked here.

#include "observe/node_stats.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace bcp::observe {

struct label {
    std::string_view name;
    std::string_view value;
};

/// `value` with \ " and line feeds escaped, for use between the quotes of a label value.
std::string escape_label_value(std::string_view value);
/// `text` with \ and line feeds escaped, for a # HELP line.
std::string escape_help(std::string_view text);
/// A sample value: integers exactly, otherwise the shortest round-trip form; +Inf, -Inf, NaN.
std::string format_value(double v);

class exposition {
  public:
    /// Starts a family: type is "counter", "gauge" or "histogram".
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
    void sample(std::string_view name, std::initializer_list<label> labels, std::int64_t value);
    void sample(std::string_view name, std::initializer_list<label> labels, double value);
    /// The _bucket (cumulative, with le), _sum and _count samples of one histogram series.
    void histogram(std::string_view name, std::initializer_list<label> labels,
                   const histogram_totals& h);

    const std::string& text() const { return out_; }

  private:
    void series(std::string_view name, std::initializer_list<label> labels,
                const label* extra = nullptr);
    std::string out_;
};

}  // namespace bcp::observe
