#include "observe/access_log.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace bcp::observe {
namespace {

request_record sample_record() {
    request_record r;
    r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764266131123));
    r.client = "192.0.2.7";
    r.node = "bbb-01";
    r.method = "GET";
    r.path = "/bbb-01/html5client/app.js";
    r.status = 200;
    r.bytes = 2541203;
    r.duration = std::chrono::microseconds(84'400);
    r.upstream = std::chrono::microseconds(2'000);
    return r;
}

TEST(AccessLogFormat, PlainLine) {
    std::string out;
    format_plain(sample_record(), out);
    EXPECT_EQ(out,
              "2025-11-27T17:55:31.123Z 192.0.2.7 bbb-01 \"GET /bbb-01/html5client/app.js "
              "HTTP/1.1\" 200 2541203 0.084 0.002 - -\n");
}

TEST(AccessLogFormat, PlainEscapesAndPlaceholders) {
    request_record r = sample_record();
    r.node.clear();
    r.method.clear();
    r.path = "/a b\"c\\\x01\xff";
    r.upstream.reset();
    r.version = 10;
    r.cache = "HIT";
    r.encoding = "br";
    std::string out;
    format_plain(r, out);
    EXPECT_NE(out.find(" - \"- /a\\x20b\\x22c\\x5C\\x01\\xFF HTTP/1.0\" 200 "), std::string::npos)
        << out;
    EXPECT_TRUE(out.ends_with(" 0.084 - HIT br\n")) << out;
}

TEST(AccessLogFormat, TunnelFields) {
    request_record r = sample_record();
    r.status = 101;
    r.bytes = 0;
    r.tunnel = true;
    r.tunnel_duration = std::chrono::microseconds(331'498'000);
    r.tunnel_bytes_to_client = 88211;
    r.tunnel_bytes_to_node = 9120;
    std::string plain;
    format_plain(r, plain);
    EXPECT_TRUE(plain.ends_with(" - - tunnel=331.498 to_client=88211 to_node=9120\n")) << plain;
    std::string json;
    format_json(r, json);
    const auto j = nlohmann::json::parse(json);
    EXPECT_EQ(j["tunnel"]["duration"], 331.498);
    EXPECT_EQ(j["tunnel"]["bytes_to_client"], 88211);
    EXPECT_EQ(j["tunnel"]["bytes_to_node"], 9120);
}

TEST(AccessLogFormat, JsonLineIsValidJsonWhateverTheBytes) {
    request_record r = sample_record();
    r.path = std::string("/x\"\\\n\x01\xc3(", 9);
    std::string out;
    format_json(r, out);
    ASSERT_TRUE(out.ends_with("}\n"));
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["time"], "2025-11-27T17:55:31.123Z");
    EXPECT_EQ(j["client"], "192.0.2.7");
    EXPECT_EQ(j["node"], "bbb-01");
    EXPECT_EQ(j["status"], 200);
    EXPECT_EQ(j["bytes"], 2541203);
    EXPECT_EQ(j["duration"], 0.084);
    EXPECT_EQ(j["upstream_time"], 0.002);
    EXPECT_EQ(j["cache"], "-");
    EXPECT_EQ(j["encoding"], "-");
    EXPECT_EQ(j["path"].get<std::string>().substr(0, 5), "/x\"\\\n");
    r.node.clear();
    r.upstream.reset();
    out.clear();
    format_json(r, out);
    const auto k = nlohmann::json::parse(out);
    EXPECT_TRUE(k["node"].is_null());
    EXPECT_TRUE(k["upstream_time"].is_null());
}

TEST(AccessLogWriter, BuffersFlushesAndReopens) {
    test::temp_dir dir;
    const auto path = (dir.path() / "access.log").string();
    access_log_options o;
    o.path = path;
    std::string error;
    auto log = access_log::open(o, error);
    ASSERT_TRUE(log) << error;
    access_log_buffer buffer(log.get());
    buffer.append(sample_record());
    buffer.append(sample_record());
    log->flush();
    EXPECT_EQ(log->lines_written(), 0u) << "lines stay in the worker's buffer until flushed";
    buffer.flush();
    log->flush();
    EXPECT_EQ(log->lines_written(), 2u);

    std::filesystem::rename(path, path + ".1");
    log->reopen();
    buffer.append(sample_record());
    buffer.flush();
    log->flush();
    EXPECT_TRUE(std::filesystem::exists(path));
    std::ifstream fresh(path), old(path + ".1");
    const std::string a{std::istreambuf_iterator<char>(fresh), {}};
    const std::string b{std::istreambuf_iterator<char>(old), {}};
    EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 1);
    EXPECT_EQ(std::count(b.begin(), b.end(), '\n'), 2);
}

TEST(AccessLogWriter, DropsAndCountsWhenTooFarBehind) {
    test::temp_dir dir;
    access_log_options o;
    o.path = (dir.path() / "a.log").string();
    o.max_pending = 0;  // nothing fits
    std::string error;
    auto log = access_log::open(o, error);
    ASSERT_TRUE(log);
    log->submit("x\n", 1);
    log->flush();
    EXPECT_EQ(log->lines_dropped(), 1u);
    EXPECT_EQ(log->lines_written(), 0u);
}

TEST(AccessLogWriter, UnopenableFileNamesTheKey) {
    access_log_options o;
    o.path = "/nonexistent-dir-bcp/a.log";
    std::string error;
    EXPECT_FALSE(access_log::open(o, error));
    EXPECT_NE(error.find("access_log.path"), std::string::npos) << error;
    EXPECT_NE(error.find("/nonexistent-dir-bcp/a.log"), std::string::npos);
}

}  // namespace
}  // namespace bcp::observe
