#include "http/local_reply.hpp"

#include <gtest/gtest.h>

namespace bcp::http {
namespace {

TEST(LocalReply, IsCompleteAndSelfContained) {
    for (unsigned status : {400u, 404u, 405u, 414u, 421u, 431u, 502u, 503u, 504u, 505u}) {
        local_reply_options o;
        o.node_id = "bbb-01";
        const auto r = make_local_reply(status, o);
        const auto head_end = r.find("\r\n\r\n");
        ASSERT_NE(head_end, std::string::npos);
        const auto body = r.substr(head_end + 4);
        EXPECT_EQ(r.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u);
        EXPECT_NE(r.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
                  std::string::npos);
        EXPECT_NE(r.find("Cache-Control: no-store"), std::string::npos);
        EXPECT_NE(r.find("Connection: close"), std::string::npos);
        EXPECT_EQ(body.find("http"), std::string::npos) << "no external resources";
        EXPECT_NE(body.find(std::string(reason_phrase(status))), std::string::npos);
        EXPECT_EQ(body.find("bbb-01") != std::string::npos, status >= 500) << status;
    }
}

TEST(LocalReply, HeadHasNoBodyAndExtraHeadersAppear) {
    local_reply_options o;
    o.head_method = true;
    o.close = false;
    o.extra_headers = "Allow: GET, HEAD\r\n";
    const auto r = make_local_reply(405, o);
    EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
    EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos);
    EXPECT_EQ(r.find("Connection: close"), std::string::npos);
}

TEST(LocalReply, RefusesToPrintUnsafeNodeIds) {
    local_reply_options o;
    o.node_id = "<script>";
    EXPECT_EQ(make_local_reply(502, o).find("<script>"), std::string::npos);
}

}  // namespace
}  // namespace bcp::http
