#include "admin/listener.hpp"
#include "admin/endpoints.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace bcp::admin {
namespace {

request make(std::string_view method, std::string_view path, std::string auth = {}) {
    request r;
    r.method = method;
    r.path = path;
    r.header = [auth](std::string_view name) -> std::string_view {
        static thread_local std::string keep;
        keep = auth;
        return name == "authorization" ? std::string_view(keep) : std::string_view();
    };
    return r;
}

TEST(AdminToken, BearerComparison) {
    EXPECT_TRUE(bearer_matches("Bearer abc123", "abc123"));
    EXPECT_TRUE(bearer_matches("bearer abc123", "abc123"));
    EXPECT_TRUE(bearer_matches("  BEARER   abc123  ", "abc123"));
    EXPECT_FALSE(bearer_matches("Bearer abc12", "abc123"));
    EXPECT_FALSE(bearer_matches("Bearer abc1234", "abc123"));
    EXPECT_FALSE(bearer_matches("Basic abc123", "abc123"));
    EXPECT_FALSE(bearer_matches("abc123", "abc123"));
    EXPECT_FALSE(bearer_matches("", "abc123"));
    EXPECT_FALSE(bearer_matches("Bearer ", ""));
}

TEST(AdminToken, TokenFileFirstLineTrimmed) {
    test::temp_dir dir;
    const auto p = (dir.path() / "t").string();
    std::ofstream(p) << "  tok-en \nsecond line\n";
    std::string error;
    EXPECT_EQ(read_token_file(p, error), "tok-en");
    std::ofstream(p, std::ios::trunc) << "\n\n";
    EXPECT_FALSE(read_token_file(p, error));
    EXPECT_NE(error.find("admin.token_file"), std::string::npos);
    EXPECT_NE(error.find("is empty"), std::string::npos);
    EXPECT_FALSE(read_token_file((dir.path() / "missing").string(), error));
    EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

TEST(AdminListener, RoutesByMethodAndPathWithToken) {
    std::string error;
    auto l = listener::create({"127.0.0.1", 0, "sekrit"}, error);
    ASSERT_TRUE(l) << error;
    l->handle("GET", "/a", [](const request&) { return response{200, "text/plain", "A", {}}; });
    l->handle("POST", "/a", [](const request&) { return response{202, "text/plain", "P", {}}; });
    EXPECT_EQ(l->dispatch(make("GET", "/a")).status, 401u);
    EXPECT_EQ(l->dispatch(make("GET", "/a", "Bearer wrong")).status, 401u);
    EXPECT_EQ(l->dispatch(make("GET", "/a", "Bearer sekrit")).body, "A");
    EXPECT_EQ(l->dispatch(make("HEAD", "/a", "Bearer sekrit")).body, "A");
    EXPECT_EQ(l->dispatch(make("POST", "/a", "Bearer sekrit")).status, 202u);
    const auto put = l->dispatch(make("PUT", "/a", "Bearer sekrit"));
    EXPECT_EQ(put.status, 405u);
    ASSERT_EQ(put.headers.size(), 1u);
    EXPECT_EQ(put.headers[0].second, "GET, HEAD, POST");
    EXPECT_EQ(l->dispatch(make("GET", "/b", "Bearer sekrit")).status, 404u);
    EXPECT_EQ(l->dispatch(make("GET", "/b")).status, 401u) << "unknown paths need the token too";
}

TEST(AdminListener, QueryParameters) {
    request r;
    r.query = "a=1&format=json&flag";
    EXPECT_EQ(r.query_param("format"), "json");
    EXPECT_EQ(r.query_param("a"), "1");
    EXPECT_EQ(r.query_param("flag").data() != nullptr, true);
    EXPECT_EQ(r.query_param("missing").data(), nullptr);
}

TEST(AdminListener, BindFailureNamesTheKey) {
    std::string error;
    auto a = listener::create({"127.0.0.1", 0, ""}, error);
    ASSERT_TRUE(a);
    auto b = listener::create({"127.0.0.1", a->endpoint().port(), ""}, error);
    EXPECT_FALSE(b);
    EXPECT_NE(error.find("admin.address"), std::string::npos) << error;
}

TEST(AdminMetrics, QuantileInterpolatesWithinBuckets) {
    observe::histogram h;
    for (int i = 0; i < 10; ++i) {
        h.observe(std::chrono::milliseconds(20));  // bucket (0.01, 0.025]
    }
    observe::histogram_totals t;
    EXPECT_TRUE(std::isnan(quantile(t, 0.5)));
    t.add(h);
    EXPECT_DOUBLE_EQ(quantile(t, 0.5), 0.01 + 0.015 * 0.5);
    EXPECT_DOUBLE_EQ(quantile(t, 1.0), 0.025);
}

}  // namespace
}  // namespace bcp::admin
