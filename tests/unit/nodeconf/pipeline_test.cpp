// The whole pipeline on fixture trees: golden plans, apply → check → apply → revert for every
// version, replacement instead of stacking, failing checks, bad input, failure injection.
#include "tree.hpp"

#include "nodeconf/nginx_conf.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace nodeconf_test;
namespace nc = bcp::nodeconf;

namespace {

// Golden files: tests/data/nodeconf/golden/<name>.txt. Regenerate after an intended change with
//   BCP_UPDATE_GOLDEN=1 build-asan/tests/unit/nodeconf/nodeconf_test --gtest_filter='PlanGolden.*'
// and review the diff in git.
void expect_golden(const std::string& name, const std::string& actual) {
    const fs::path file = data_dir() / "golden" / (name + ".txt");
    if (std::getenv("BCP_UPDATE_GOLDEN") != nullptr) {
        write(file, actual);
        return;
    }
    ASSERT_TRUE(fs::exists(file)) << file << " missing; run with BCP_UPDATE_GOLDEN=1";
    EXPECT_EQ(read(file), actual) << "golden " << file << " differs";
}

}  // namespace

class PlanGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PlanGolden, MatchesTheReviewedPlan) {
    // Plans read the fixture in place: plan writes nothing.
    const fs::path root = data_dir() / GetParam();
    const auto before = snapshot(root);
    const auto r = plan(make_request(root));
    ASSERT_EQ(r.code, 0) << r.err;
    expect_golden("plan-" + GetParam(), r.out);
    EXPECT_EQ(snapshot(root), before);
}

INSTANTIATE_TEST_SUITE_P(Versions, PlanGolden, ::testing::Values("2.4", "2.5", "2.6", "2.7", "3.0"),
                         [](const auto& info) {
                             std::string n = "v" + info.param;
                             n.erase(std::remove(n.begin(), n.end(), '.'), n.end());
                             return n;
                         });

TEST(PlanGoldenOld30, OmitsCorsOriginBefore3028) {
    auto r = make_request(data_dir() / "3.0");
    r.bbb_version = "3.0.9";
    const auto out = plan(r);
    ASSERT_EQ(out.code, 0) << out.err;
    expect_golden("plan-3.0.9", out.out);
    EXPECT_EQ(out.out.find("bbb_cors_origin 'https"), std::string::npos);
}

class Lifecycle : public ::testing::TestWithParam<std::string> {};

TEST_P(Lifecycle, ApplyCheckApplyRevertIsExact) {
    temp_dir tmp;
    copy_fixture(GetParam(), tmp.path());
    const auto original = snapshot(tmp.path());
    const auto req = make_request(tmp.path());

    const auto untouched = check(req);
    EXPECT_EQ(untouched.code, 1) << untouched.out;
    EXPECT_NE(untouched.out.find("✗"), std::string::npos);

    const auto first = apply(req);
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_NE(first.out.find("Services to restart:"), std::string::npos);
    const auto applied = snapshot(tmp.path());

    const auto ok = check(req);
    EXPECT_EQ(ok.code, 0) << ok.out;
    EXPECT_EQ(ok.out.find("✗"), std::string::npos) << ok.out;

    const auto second = apply(req);
    ASSERT_EQ(second.code, 0) << second.err;
    EXPECT_NE(second.out.find("No changes"), std::string::npos) << second.out;
    EXPECT_EQ(snapshot(tmp.path()), applied);

    const auto again = plan(req);
    EXPECT_NE(again.out.find("No changes"), std::string::npos) << again.out;

    const auto back = revert(tmp.path());
    ASSERT_EQ(back.code, 0) << back.err << back.out;
    EXPECT_EQ(snapshot(tmp.path()), original);
}

TEST_P(Lifecycle, AnotherNodeIdAndProxyReplaceValues) {
    temp_dir tmp;
    copy_fixture(GetParam(), tmp.path());
    const auto original = snapshot(tmp.path());
    ASSERT_EQ(apply(make_request(tmp.path())).code, 0);
    const auto other = make_request(tmp.path(), "https://proxy2.example.net:8443", "bbb-02",
                                    "https://bbb-02.example.net");
    const auto r = apply(other);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(check(other).code, 0) << check(other).out;
    // Nothing of the first run may survive anywhere in the tree (no stacked prefixes either).
    for (const auto& [path, content] : snapshot(tmp.path())) {
        if (path.find("var/lib/bbb-cluster-proxy") != std::string::npos) {
            continue;  // the backups hold the originals
        }
        EXPECT_EQ(content.find("bbb-01/"), std::string::npos) << path << "\n" << content;
        EXPECT_EQ(content.find("bbb-proxy.example.com"), std::string::npos) << path;
        EXPECT_EQ(content.find("/bbb-02/bbb-02"), std::string::npos) << path;
    }
    EXPECT_EQ(apply(other).out.find("No changes") != std::string::npos, true);
    ASSERT_EQ(revert(tmp.path()).code, 0);
    EXPECT_EQ(snapshot(tmp.path()), original);
}

INSTANTIATE_TEST_SUITE_P(Versions, Lifecycle, ::testing::Values("2.4", "2.5", "2.6", "2.7", "3.0"),
                         [](const auto& info) {
                             std::string n = "v" + info.param;
                             n.erase(std::remove(n.begin(), n.end(), '.'), n.end());
                             return n;
                         });

TEST(NodeCheck, DetectsAFileRevertedByAPackageUpgrade) {
    temp_dir tmp;
    copy_fixture("2.5", tmp.path());
    const auto req = make_request(tmp.path());
    ASSERT_EQ(apply(req).code, 0);
    // bbb-html5 upgrade: the package file comes back unprefixed.
    fs::copy_file(data_dir() / "2.5/usr/share/bigbluebutton/nginx/bbb-html5.nginx",
                  tmp.path() / "usr/share/bigbluebutton/nginx/bbb-html5.nginx",
                  fs::copy_options::overwrite_existing);
    const auto r = check(req);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("✗ nginx.html5-locations"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("changed since the last apply"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("package-owned"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Fix everything at once: bbb-cluster-proxy node apply --proxy-url "
                         "https://bbb-proxy.example.com"),
              std::string::npos);
    // Re-applying fixes it, and revert then returns to the *upgraded* package file.
    ASSERT_EQ(apply(req).code, 0);
    EXPECT_EQ(check(req).code, 0);
}

TEST(NodeCheck, DetectsTheIncludeDefaultSymlinkRestoredByAnUpgrade) {
    temp_dir tmp;
    copy_fixture("2.7", tmp.path());
    const auto req = make_request(tmp.path());
    ASSERT_EQ(apply(req).code, 0);
    const auto link = tmp.path() / "etc/bigbluebutton/nginx/include_default.nginx";
    fs::remove(link);
    fs::create_symlink("/usr/share/bigbluebutton/include_default.nginx", link);
    const auto r = check(req);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("✗ nginx.include-default"), std::string::npos) << r.out;
}

TEST(NodeCheck, DetectsLeftoversOfA2xSetupOn30) {
    temp_dir tmp;
    copy_fixture("3.0", tmp.path());
    write(tmp.path() / "etc/systemd/system/bbb-html5-frontend@.service.d/cluster.conf",
          "[Service]\nEnvironment=ROOT_URL=https://127.0.0.1/bbb-01/html5client\n");
    write(tmp.path() / "etc/bigbluebutton/bbb-web.properties",
          "defaultGuestWaitURL=https://bbb-01.example.com/bbb-01/html5client/guestWait\n");
    write(tmp.path() / "etc/default/bbb-web",
          "JDK_JAVA_OPTIONS=\"-Xmx2g -Dgrails.cors.enabled=true "
          "-Dgrails.cors.allowedOrigins=https://old\"\n");
    const auto req = make_request(tmp.path());
    const auto r = check(req);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("✗ html5.frontend-dropin-leftover"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("✗ web.guest-wait-url-leftover"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("✗ web.grails-cors-leftover"), std::string::npos) << r.out;
    const auto before = snapshot(tmp.path());
    ASSERT_EQ(apply(req).code, 0);
    EXPECT_EQ(check(req).code, 0) << check(req).out;
    EXPECT_FALSE(
        fs::exists(tmp.path() / "etc/systemd/system/bbb-html5-frontend@.service.d/cluster.conf"));
    EXPECT_EQ(read(tmp.path() / "etc/default/bbb-web"), "JDK_JAVA_OPTIONS=\"-Xmx2g\"\n");
    ASSERT_EQ(revert(tmp.path()).code, 0);
    EXPECT_EQ(snapshot(tmp.path()), before);
}

TEST(NodeCheck, ShowsCurrentValueWhyAndFix) {
    const auto r = check(make_request(data_dir() / "2.7"));
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("✗ html5.basename  /etc/bigbluebutton/bbb-html5.yml: public.app.basename: "
                         "'/bbb-01/html5client'\n    now: /html5client\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("    fix: set public.app.basename: '/bbb-01/html5client' in "
                         "/etc/bigbluebutton/bbb-html5.yml\n"),
              std::string::npos);
}

TEST(NodeApply, ThreeZeroEightPlusSetsCorsOriginInACopyOfTheSnippet) {
    temp_dir tmp;
    copy_fixture("3.0", tmp.path());
    ASSERT_EQ(apply(make_request(tmp.path())).code, 0);
    const auto overlay = read(tmp.path() / "etc/bigbluebutton/nginx/bbb-cluster.nginx");
    EXPECT_NE(overlay.find("set $bbb_cors_origin 'https://bbb-proxy.example.com';"),
              std::string::npos);
    EXPECT_NE(overlay.find("set $bbb_loadbalancer_node '';"), std::string::npos);  // copied as is
    const auto inc = read(tmp.path() / "etc/bigbluebutton/nginx/include_default.nginx");
    EXPECT_EQ(inc.find("loadbalancer.nginx"), std::string::npos);
    EXPECT_EQ(inc.find("bbb-html5.nginx;"), std::string::npos);
    EXPECT_NE(inc.find("include /usr/share/bigbluebutton/nginx/graphql.nginx;"), std::string::npos);
}

TEST(NodeInput, RejectsBadUrlsAndIdsAndWritesNothing) {
    temp_dir tmp;
    copy_fixture("2.7", tmp.path());
    const auto before = snapshot(tmp.path());
    struct bad {
        nc::request r;
        std::string says;
    };
    const bad cases[] = {
        {make_request(tmp.path(), "https://bbb-proxy.example.com/"), "trailing slash"},
        {make_request(tmp.path(), "https://bbb-proxy.example.com/x"), "a path"},
        {make_request(tmp.path(), "https://bbb-proxy.example.com?a=1"), "a query"},
        {make_request(tmp.path(), "http://bbb-proxy.example.com"), "must use https"},
        {make_request(tmp.path(), "https://https://bbb-proxy.example.com"), "--proxy-url"},
        {make_request(tmp.path(), "https://p.example.com", "bbb 01"), "--node-id"},
        {make_request(tmp.path(), "https://p.example.com", ".."), "--node-id"},
        {make_request(tmp.path(), "https://p.example.com", "a/b"), "--node-id"},
        {make_request(tmp.path(), "https://p.example.com", "bbb-01", "https://n.example.com/"),
         "--node-url"},
    };
    for (const auto& c : cases) {
        const auto r = apply(c.r);
        EXPECT_EQ(r.code, 2) << c.says;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    }
    EXPECT_EQ(snapshot(tmp.path()), before);
}

// The proxy accepts upper-case ids (config::is_path_segment), so the node side must too.
TEST(NodeInput, AcceptsTheIdsTheProxyAccepts) {
    auto r = make_request(data_dir() / "2.7", "https://p.example.com", "BBB-01.East_2");
    const auto out = plan(r);
    ASSERT_EQ(out.code, 0) << out.err;
    EXPECT_NE(out.out.find("/BBB-01.East_2/html5client"), std::string::npos) << out.out;
}

TEST(NodeInput, DefaultsTheIdToTheFirstLabel) {
    auto r = make_request(data_dir() / "2.7");
    r.node_id.reset();
    r.node_url = "https://node7.bbb.example.org";
    const auto out = plan(r);
    ASSERT_EQ(out.code, 0) << out.err;
    EXPECT_NE(out.out.find("node node7 (https://node7.bbb.example.org)"), std::string::npos);
}

TEST(NodeInput, RefusesUnknownOrUndetectableVersions) {
    temp_dir tmp;
    copy_fixture("2.7", tmp.path());
    auto r = make_request(tmp.path());
    r.bbb_version = "3.1";
    EXPECT_NE(apply(r).err.find("not supported"), std::string::npos);
    r.bbb_version = "latest";
    EXPECT_EQ(apply(r).code, 2);
    r.bbb_version.reset();
    fs::remove(tmp.path() / "etc/bigbluebutton/bigbluebutton-release");
    const auto out = apply(r);
    EXPECT_EQ(out.code, 2);
    EXPECT_NE(out.err.find("pass --bbb-version"), std::string::npos) << out.err;
}

TEST(NodeInput, NamesAMissingBbbFileAndTheVersionAssumed) {
    temp_dir tmp;
    copy_fixture("2.6", tmp.path());
    fs::remove(tmp.path() / "usr/share/bigbluebutton/nginx/bbb-html5.nginx");
    const auto before = snapshot(tmp.path());
    const auto r = apply(make_request(tmp.path()));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("/usr/share/bigbluebutton/nginx/bbb-html5.nginx: missing"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("BBB 2.6 assumed"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(tmp.path()), before);
}

TEST(NodeInput, NamesTheLineOfAnUnparsableFile) {
    temp_dir tmp;
    copy_fixture("2.7", tmp.path());
    write(tmp.path() / "etc/bigbluebutton/bbb-html5.yml", "public:\n  app: {basename: x}\n");
    write(tmp.path() / "etc/bigbluebutton/etherpad.json", "{\n");
    const auto before = snapshot(tmp.path());
    const auto r = apply(make_request(tmp.path()));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("/etc/bigbluebutton/bbb-html5.yml:2: "), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(tmp.path()), before);

    write(tmp.path() / "etc/bigbluebutton/bbb-html5.yml", "public:\n");
    write(tmp.path() / "usr/share/bigbluebutton/nginx/bbb-html5.nginx",
          "location /html5client {\n");
    const auto n = apply(make_request(tmp.path()));
    EXPECT_NE(n.err.find("/usr/share/bigbluebutton/nginx/bbb-html5.nginx:1: "), std::string::npos)
        << n.err;
}

// Fails the n-th file operation: root ignores permission bits, so a hook is the reliable way.
class failing_ops : public nc::file_ops {
  public:
    explicit failing_ops(int fail_at) : fail_at_(fail_at) {}
    int calls = 0;
    std::optional<std::string> write_file(const std::string& p, const std::string& c, mode_t m,
                                          bool o, uid_t u, gid_t g) override {
        if (++calls == fail_at_) {
            return "injected failure writing " + p;
        }
        return nc::file_ops::write_file(p, c, m, o, u, g);
    }
    std::optional<std::string> make_dir(const std::string& p) override {
        if (++calls == fail_at_) {
            return "injected failure creating " + p;
        }
        return nc::file_ops::make_dir(p);
    }
    std::optional<std::string> remove(const std::string& p) override {
        if (++calls == fail_at_) {
            return "injected failure removing " + p;
        }
        return nc::file_ops::remove(p);
    }

  private:
    int fail_at_;
};

TEST(NodeApply, AFailureAtAnyStepLeavesTheTreeUnchanged) {
    for (const char* version : versions) {
        temp_dir tmp;
        copy_fixture(version, tmp.path());
        const auto before = snapshot(tmp.path());
        failing_ops counter(-1);
        {
            temp_dir dry;
            copy_fixture(version, dry.path());
            ASSERT_EQ(apply(make_request(dry.path()), &counter).code, 0);
        }
        ASSERT_GT(counter.calls, 3);
        for (int k = 1; k <= counter.calls; ++k) {
            failing_ops ops(k);
            const auto r = apply(make_request(tmp.path()), &ops);
            EXPECT_EQ(r.code, 2) << version << " step " << k;
            EXPECT_NE(r.err.find("rolled back"), std::string::npos) << r.err;
            EXPECT_EQ(snapshot(tmp.path()), before) << version << " step " << k;
        }
    }
}

TEST(NodeApply, APathComponentThatIsAFileFailsCleanly) {
    // Works for root too: mkdir below a regular file fails with ENOTDIR.
    temp_dir tmp;
    copy_fixture("2.6", tmp.path());
    write(tmp.path() / "etc/systemd/system", "not a directory\n");
    const auto before = snapshot(tmp.path());
    const auto r = apply(make_request(tmp.path()));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("rolled back"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(tmp.path()), before);
}

TEST(NodeApply, KeepsOwnerAndModeOfChangedFiles) {
    temp_dir tmp;
    copy_fixture("2.4", tmp.path());
    const auto props = tmp.path() / "etc/bigbluebutton/bbb-web.properties";
    ASSERT_EQ(::chmod(props.c_str(), 0640), 0);
    ASSERT_EQ(::chown(props.c_str(), 0, 4), 0);
    ASSERT_EQ(apply(make_request(tmp.path())).code, 0);
    struct stat st {};
    ASSERT_EQ(::stat(props.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_gid, 4u);
}

TEST(NodeRevert, WithoutManifestSaysSo) {
    temp_dir tmp;
    const auto r = revert(tmp.path());
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Nothing to revert"), std::string::npos);
}

TEST(NodeRevert, LeavesAFileChangedSinceApplyAlone) {
    temp_dir tmp;
    copy_fixture("2.7", tmp.path());
    ASSERT_EQ(apply(make_request(tmp.path())).code, 0);
    write(tmp.path() / "etc/bigbluebutton/etherpad.json", "{\"hand\": 1}\n");
    const auto r = revert(tmp.path());
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("left alone /etc/bigbluebutton/etherpad.json"), std::string::npos)
        << r.out;
    EXPECT_EQ(read(tmp.path() / "etc/bigbluebutton/etherpad.json"), "{\"hand\": 1}\n");
}

TEST(NodeApply, RestartIsIgnoredOutsideTheRealRoot) {
    temp_dir tmp;
    copy_fixture("2.6", tmp.path());
    bool ran = false;
    const auto r = run([&](auto& env) {
        env.run = [&](const std::vector<std::string>&) {
            ran = true;
            return 0;
        };
        return nc::run_apply(make_request(tmp.path()), true, env);
    });
    EXPECT_EQ(r.code, 0);
    EXPECT_FALSE(ran);
    EXPECT_NE(r.out.find("--restart ignored"), std::string::npos);
}

TEST(VersionDetection, AsksThePackageDatabaseOnlyOnTheRealRoot) {
    const nc::node_fs real("/");
    if (real.read("/etc/bigbluebutton/bigbluebutton-release").kind != nc::entry_kind::absent) {
        GTEST_SKIP() << "this machine is a BBB node";
    }
    int asked = 0;
    const nc::package_query query = [&](const std::string& package) -> std::optional<std::string> {
        ++asked;
        return package == "bbb-html5" ? std::optional<std::string>("1:2.7.3-2") : std::nullopt;
    };
    auto found = nc::detect_version(real, std::nullopt, query);
    ASSERT_TRUE(found.ok()) << found.error().to_string();
    EXPECT_EQ(found->version.series(), "2.7");
    EXPECT_EQ(found->source, "dpkg-query bbb-html5");

    temp_dir tmp;
    asked = 0;
    EXPECT_FALSE(nc::detect_version(nc::node_fs(tmp.str()), std::nullopt, query).ok());
    EXPECT_EQ(asked, 0);
    auto forced = nc::detect_version(nc::node_fs(tmp.str()), std::string("3.0.28"), query);
    ASSERT_TRUE(forced.ok());
    EXPECT_EQ(forced->source, "--bbb-version");
}
