#include "observe/prometheus.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace bcp::observe {
namespace {

TEST(PrometheusText, EscapesLabelValues) {
    EXPECT_EQ(escape_label_value("plain-id_1.x"), "plain-id_1.x");
    EXPECT_EQ(escape_label_value(R"(a"b)"), R"(a\"b)");
    EXPECT_EQ(escape_label_value(R"(a\b)"), R"(a\\b)");
    EXPECT_EQ(escape_label_value("a\nb"), R"(a\nb)");
    EXPECT_EQ(escape_label_value("\\\"\n"), R"(\\\"\n)");
}

TEST(PrometheusText, EscapesHelpButNotQuotes) {
    EXPECT_EQ(escape_help("says \"hi\"\\\n"), "says \"hi\"\\\\\\n");
}

TEST(PrometheusText, FormatsValues) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(12), "12");
    EXPECT_EQ(format_value(0.001), "0.001");
    EXPECT_EQ(format_value(2.5), "2.5");
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(PrometheusText, FamilyAndSamples) {
    exposition e;
    e.family("bcp_x_total", "counter", "Things.\nMore.");
    e.sample("bcp_x_total", {}, std::uint64_t{7});
    e.sample("bcp_x_total", {{"node", "a\"b"}, {"code", "200"}},
             std::uint64_t{18446744073709551615u});
    e.sample("bcp_x_total", {{"node", "n"}}, std::int64_t{-3});
    EXPECT_EQ(e.text(),
              "# HELP bcp_x_total Things.\\nMore.\n"
              "# TYPE bcp_x_total counter\n"
              "bcp_x_total 7\n"
              "bcp_x_total{node=\"a\\\"b\",code=\"200\"} 18446744073709551615\n"
              "bcp_x_total{node=\"n\"} -3\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulative) {
    histogram h;
    h.observe(std::chrono::microseconds(500));   // <= 0.001
    h.observe(std::chrono::microseconds(1000));  // == 0.001 (le is inclusive)
    h.observe(std::chrono::milliseconds(30));    // <= 0.05
    h.observe(std::chrono::seconds(120));        // +Inf
    histogram_totals t;
    t.add(h);
    exposition e;
    e.histogram("bcp_d_seconds", {{"node", "a"}}, t);
    const std::string& s = e.text();
    EXPECT_NE(s.find("bcp_d_seconds_bucket{node=\"a\",le=\"0.001\"} 2\n"), std::string::npos) << s;
    EXPECT_NE(s.find("bcp_d_seconds_bucket{node=\"a\",le=\"0.025\"} 2\n"), std::string::npos);
    EXPECT_NE(s.find("bcp_d_seconds_bucket{node=\"a\",le=\"0.05\"} 3\n"), std::string::npos);
    EXPECT_NE(s.find("bcp_d_seconds_bucket{node=\"a\",le=\"60\"} 3\n"), std::string::npos);
    EXPECT_NE(s.find("bcp_d_seconds_bucket{node=\"a\",le=\"+Inf\"} 4\n"), std::string::npos);
    EXPECT_NE(s.find("bcp_d_seconds_count{node=\"a\"} 4\n"), std::string::npos);
    EXPECT_NE(s.find("bcp_d_seconds_sum{node=\"a\"} 120.0315\n"), std::string::npos) << s;
}

}  // namespace
}  // namespace bcp::observe
