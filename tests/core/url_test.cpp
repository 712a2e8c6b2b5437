// url_test.cpp: the URL parser: what it accepts, what each malformed input
// is told, and that no error or echo ever shows a password.
#include <berth/url.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth {
namespace {

// ---- accepted ----------------------------------------------------------------

TEST(UrlParse, OpaqueSqliteForms) {
  url u = url::parse("sqlite:app.db");
  EXPECT_EQ(u.scheme(), "sqlite");
  EXPECT_FALSE(u.has_authority());
  EXPECT_TRUE(u.hosts().empty());
  EXPECT_EQ(u.path(), "app.db");
  EXPECT_TRUE(u.params().empty());

  EXPECT_EQ(url::parse("SQLite:app.db").scheme(), "sqlite") << "schemes are case-insensitive";
  EXPECT_EQ(url::parse("sqlite::memory:").path(), ":memory:");
  EXPECT_EQ(url::parse("sqlite::memory:cache").path(), ":memory:cache");
  EXPECT_EQ(url::parse("sqlite:/var/lib/app.db").path(), "/var/lib/app.db");
  EXPECT_EQ(url::parse("sqlite:dir/my%20app.db").path(), "dir/my app.db") << "percent-decoded";
  EXPECT_EQ(url::parse("sqlite:/tmp/donn\xc3\xa9\x65s.db").path(), "/tmp/donn\xc3\xa9\x65s.db") << "UTF-8 as is";
}

TEST(UrlParse, EmptyAuthorityThenAbsolutePath) {
  url u = url::parse("sqlite:///var/lib/app.db?max_size=4");
  EXPECT_TRUE(u.has_authority());
  EXPECT_TRUE(u.hosts().empty());
  EXPECT_FALSE(u.user().has_value());
  EXPECT_EQ(u.path(), "/var/lib/app.db");
  ASSERT_EQ(u.params().size(), 1u);
  EXPECT_EQ(u.params()[0].key, "max_size");
  EXPECT_EQ(u.params()[0].value, "4");
  EXPECT_EQ(u.params()[0].offset, 25u);
  EXPECT_EQ(u.params()[0].raw, "max_size=4");
}

TEST(UrlParse, UserPasswordHostPortPathQuery) {
  url u = url::parse("postgresql://app:p%40ss%3Aw0rd@db.example.com:6432/orders?sslmode=require&max_size=16");
  EXPECT_EQ(u.scheme(), "postgresql");
  EXPECT_EQ(u.user(), "app");
  EXPECT_EQ(u.password(), "p@ss:w0rd");
  ASSERT_EQ(u.hosts().size(), 1u);
  EXPECT_EQ(u.hosts()[0].name, "db.example.com");
  EXPECT_EQ(u.hosts()[0].port, 6432);
  EXPECT_FALSE(u.hosts()[0].ipv6);
  EXPECT_EQ(u.path(), "/orders");
  ASSERT_EQ(u.params().size(), 2u);
  EXPECT_EQ(u.param("sslmode")->value, "require");
  EXPECT_EQ(u.param("max_size")->value, "16");
  EXPECT_EQ(u.param("nope"), nullptr);
}

TEST(UrlParse, MultiHostAsLibpqAcceptsIt) {
  url u = url::parse("postgresql://h1:5432,h2,[::1]:5433,[fe80::1%25eth0]/db?target_session_attrs=read-write");
  ASSERT_EQ(u.hosts().size(), 4u);
  EXPECT_EQ(u.hosts()[0].name, "h1");
  EXPECT_EQ(u.hosts()[0].port, 5432);
  EXPECT_EQ(u.hosts()[1].name, "h2");
  EXPECT_FALSE(u.hosts()[1].port.has_value());
  EXPECT_EQ(u.hosts()[2].name, "::1");
  EXPECT_TRUE(u.hosts()[2].ipv6);
  EXPECT_EQ(u.hosts()[2].port, 5433);
  EXPECT_EQ(u.hosts()[3].name, "fe80::1%eth0");
  EXPECT_TRUE(u.hosts()[3].ipv6);
}

TEST(UrlParse, LibpqDefaultsAndSocketDirectories) {
  url bare = url::parse("postgresql://");
  EXPECT_TRUE(bare.has_authority());
  EXPECT_TRUE(bare.hosts().empty());
  EXPECT_EQ(bare.path(), "");

  url sock = url::parse("postgresql:///orders?host=%2Fvar%2Frun%2Fpostgresql");
  EXPECT_TRUE(sock.hosts().empty());
  EXPECT_EQ(sock.path(), "/orders");
  EXPECT_EQ(sock.param("host")->value, "/var/run/postgresql");

  url in_host = url::parse("postgresql://%2Fvar%2Frun%2Fpostgresql/orders");
  EXPECT_EQ(in_host.hosts().at(0).name, "/var/run/postgresql");

  url port_only = url::parse("postgresql://:5433/db");
  ASSERT_EQ(port_only.hosts().size(), 1u);
  EXPECT_EQ(port_only.hosts()[0].name, "");
  EXPECT_EQ(port_only.hosts()[0].port, 5433);

  EXPECT_FALSE(url::parse("postgresql://u@h").password().has_value());
  EXPECT_EQ(url::parse("postgresql://u:@h").password(), "") << "an empty password is still given";
}

TEST(UrlParse, DuplicateParametersAreKeptInOrder) {
  url u = url::parse("sqlite:a.db?pragma=cache_size%3D-16000&pragma=temp_store%3Dmemory&q=a?b/c");
  ASSERT_EQ(u.params().size(), 3u);
  EXPECT_EQ(u.params()[0].value, "cache_size=-16000");
  EXPECT_EQ(u.params()[1].value, "temp_store=memory");
  EXPECT_EQ(u.params()[2].value, "a?b/c") << "\"?\" and \"/\" are plain characters in a query";
  EXPECT_EQ(u.param("pragma"), &u.params()[0]);
}

TEST(UrlParse, RedactedHidesPasswordsOnly) {
  url u = url::parse("postgresql://app:hunter2@h:5432/db?sslpassword=k3y&application_name=x&PassWord=again");
  EXPECT_EQ(u.redacted(), "postgresql://app:***@h:5432/db?sslpassword=***&application_name=x&PassWord=***");
  EXPECT_EQ(url::parse("postgresql://app:@h/db").redacted(), "postgresql://app:***@h/db");
  EXPECT_EQ(url::parse("postgresql://app@h/db").redacted(), "postgresql://app@h/db");
  EXPECT_EQ(url::parse("sqlite:a.db").redacted(), "sqlite:a.db");
}

TEST(UrlParse, TextWithoutKeepsTheOtherParametersAsWritten) {
  url u = url::parse("postgresql://a:b@h/db?max_size=4&application_name=my%20app&min_idle=1");
  auto berth_own = [](const url_param& p) { return p.key == "max_size" || p.key == "min_idle"; };
  EXPECT_EQ(u.text_without(berth_own), "postgresql://a:b@h/db?application_name=my%20app");
  EXPECT_EQ(u.text_without([](const url_param&) { return true; }), "postgresql://a:b@h/db");
  EXPECT_EQ(u.text_without([](const url_param&) { return false; }),
            "postgresql://a:b@h/db?max_size=4&application_name=my%20app&min_idle=1");
}

// ---- rejected ----------------------------------------------------------------

struct bad_url {
  std::string text;
  std::string says;    // a fragment of what()
  std::size_t offset;  // url_error::npos: none
};

class UrlMalformed : public ::testing::TestWithParam<bad_url> {};

TEST_P(UrlMalformed, NamesTheProblemAndWhere) {
  const bad_url& c = GetParam();
  try {
    (void)url::parse(c.text);
    ADD_FAILURE() << "accepted: " << c.text;
  } catch (const url_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(c.says), std::string::npos) << what;
    EXPECT_EQ(e.offset(), c.offset) << what;
    EXPECT_TRUE(what.starts_with("berth: bad URL \"")) << what;
    if (c.offset != url_error::npos) {
      EXPECT_NE(what.find("(offset " + std::to_string(c.offset) + ")"), std::string::npos) << what;
    }
    EXPECT_TRUE(e.parameter().empty());
  }
}

constexpr std::size_t none = url_error::npos;

INSTANTIATE_TEST_SUITE_P(
    Inputs, UrlMalformed,
    ::testing::Values(
        bad_url{"", "empty URL", none},
        bad_url{"app.db", "no scheme", 0},
        bad_url{"1sqlite:x", "no scheme", 0},
        bad_url{"/var/lib/app.db", "no scheme", 0},
        bad_url{"sq lite:a.db", "a space: percent-encode it", 2},
        bad_url{"sqlite:my app.db", "a space", 9},
        bad_url{"sqlite:a.db\n", "control character 0x0a", 11},
        bad_url{"sqlite:a.db#frag", "fragment", 11},
        bad_url{"sqlite:a%2.db", "the path has a bad percent-escape \"%2.\"", 8},
        bad_url{"sqlite:a.db%", "the path has a bad percent-escape \"%\"", 11},
        bad_url{"sqlite:a%00.db", "has %00, a NUL byte, \"%00\" which no database name may hold", 8},
        bad_url{"sqlite:a.db?", "empty query", 11},
        bad_url{"sqlite:a.db?x=1&&y=2", "empty parameter", 16},
        bad_url{"sqlite:a.db?x=1&", "empty parameter", 16},
        bad_url{"sqlite:a.db?&x=1", "empty parameter", 12},
        bad_url{"sqlite:a.db?flag", "parameter \"flag\" has no value", 12},
        bad_url{"sqlite:a.db?=1", "empty key", 12},
        bad_url{"sqlite:a.db?a=b=c", "second \"=\"", 15},
        bad_url{"sqlite:a.db?k%zz=1", "the parameter key has a bad percent-escape", 13},
        bad_url{"sqlite:a.db?k=%zz", "the value of parameter k has a bad percent-escape", 14},
        bad_url{"postgresql://h:0/db", "port \"0\" is not a number in 1..65535", 15},
        bad_url{"postgresql://h:65536/db", "port \"65536\" is not a number in 1..65535", 15},
        bad_url{"postgresql://h:54x2/db", "port \"54x2\"", 15},
        bad_url{"postgresql://h:-1/db", "port \"-1\"", 15},
        bad_url{"postgresql://h:/db", "empty port", 15},
        bad_url{"postgresql://h1,,h2/db", "empty host in the host list", 16},
        bad_url{"postgresql://h1,/db", "empty host in the host list", 16},
        bad_url{"postgresql://,h2/db", "empty host in the host list", 13},
        bad_url{"postgresql://h1,:5433/db", "empty host in the host list", 16},
        bad_url{"postgresql://::1/db", "an IPv6 address goes in brackets", 13},
        bad_url{"postgresql://[::1/db", "not closed", 13},
        bad_url{"postgresql://[::g]/db", "IPv6 address \"[::g]\" holds characters other than hex", 13},
        bad_url{"postgresql://[]/db", "IPv6 address \"[]\"", 13},
        bad_url{"postgresql://[::1]x/db", "unexpected \"x\" after the IPv6 address", 18},
        bad_url{"postgresql://[::1]:/db", "empty port", 19},
        bad_url{"postgresql://[fe80::1%eth0]/db", "IPv6 zone \"%eth0\" must be written %25<zone>", 21},
        bad_url{"postgresql://ho^st/db", "host \"ho^st\" holds \"^\"", 15},
        bad_url{"postgresql://h%zz/db", "the host has a bad percent-escape", 14},
        bad_url{"postgresql://u@v@h/db", "the user name holds an \"@\"", 14},
        bad_url{"postgresql://u%zz@h/db", "the user name has a bad percent-escape", 14},
        bad_url{"postgresql://u[1]@h/db", "the user name holds a \"[\"", 14}));

// Found by fuzz/url_parse_fuzzer (the one-byte URL "\0"): what() is a C
// string, and the echo of a URL with a NUL ended it there, before the
// problem; a line feed or escape sequence went raw into the message (a log
// line forged from a URL). Control characters and DEL are now written %XX.
TEST(UrlParse, ErrorEchoesControlCharactersEscapedBug) {
  try {
    (void)url::parse(std::string("sqlite:a\0b.db", 13));
    ADD_FAILURE() << "accepted a NUL";
  } catch (const url_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what, "berth: bad URL \"sqlite:a%00b.db\": control character 0x00: percent-encode it (a space is %20) "
                    "(offset 8)");
  }
  try {
    (void)url::parse("sqlite:a.db\n\x1b[31mFAKE\x7f");
    ADD_FAILURE() << "accepted a line feed";
  } catch (const url_error& e) {
    EXPECT_EQ(std::string(e.what()).find_first_of("\n\x1b\x7f"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sqlite:a.db%0A%1B[31mFAKE%7F"), std::string::npos) << e.what();
  }
  // A value decodes to a line feed: a later error (url::error) escapes it too.
  const url u = url::parse("sqlite:a.db?max_size=4%0Aberth:%20fake");
  EXPECT_EQ(std::string(u.error("parameter max_size: \"" + u.params()[0].value + "\" is not a whole number").what()),
            "berth: bad URL \"sqlite:a.db?max_size=4%0Aberth:%20fake\": parameter max_size: \"4%0Aberth: fake\" is "
            "not a whole number");
}

// ---- passwords are never shown --------------------------------------------------

// Each input has the password "Zx9Secret" (or a part of it) where a careless
// parser would quote it: next to the failing part, inside a raw "/", "?",
// "#", "@", space or "[" that ends the user information early, in a bad
// escape, and in password query parameters.
TEST(UrlPassword, NeverInAnyError) {
  const std::vector<std::string> inputs = {
      "postgresql://u:Zx9Secret@h:99999/db",
      "postgresql://u:Zx9Secret@h:/db",
      "postgresql://u:Zx9Secret@,h/db",
      "postgresql://u:Zx9Secret@[::g]/db",
      "postgresql://u:Zx9Secret@h^/db",
      "postgresql://u:Zx9Secret@h/d%zz",
      "postgresql://u:Zx9Secret@h/db?x",
      "postgresql://u:Zx9Secret@h/db?a=b=c",
      "postgresql://u:Zx9Secret@h/db#frag",
      "postgresql://u:Zx9Secret@h/db?x=1&&",
      "postgresql://u:Zx9/Secret@h/db",      // a raw "/" ends the authority inside the password
      "postgresql://u:Zx9?Secret@h/db",      // a raw "?" starts the query inside the password
      "postgresql://u:Zx9#Secret@h/db",      // a raw "#"
      "postgresql://u:Zx9@Secret@h/db",      // a raw "@"
      "postgresql://u:Zx9 Secret@h/db",      // a space
      "postgresql://u:Zx9\tSecret@h/db",     // a control character
      "postgresql://u:Zx9[Secret@h/db",      // a raw "["
      "postgresql://u:Zx9%zzSecret@h/db",    // a bad escape
      "postgresql://u:Zx9%00Secret@h/db",    // a NUL
      "postgresql://u:Zx9Secret:more@h:1x/db",
      "postgresql://u:Zx9/Secret@h:5432/db?x=1",
      "postgresql://h/db?password=Zx9Secret&x",
      "postgresql://h/db?password=Zx9%zzSecret",
      "postgresql://h/db?sslpassword=Zx9Secret&&",
      "postgresql://h/db?PASSWORD=Zx9Secret&a=b=c",
      "postgresql://h/db?pass%77ord=Zx9Secret&x",  // an encoded key
      "postgresql://h:1x/db?password=Zx9Secret",
      "sqlite://u:Zx9Secret@/x.db#f",
  };
  for (const std::string& in : inputs) {
    try {
      (void)url::parse(in);
      ADD_FAILURE() << "accepted: " << redact_url(in);
    } catch (const url_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find("Secret"), std::string::npos) << what;
      EXPECT_EQ(what.find("Zx9"), std::string::npos) << what;
      EXPECT_NE(what.find("***"), std::string::npos) << "the echo marks where the password was: " << what;
    }
    const std::string r = redact_url(in);
    EXPECT_EQ(r.find("Secret"), std::string::npos) << r;
    EXPECT_EQ(r.find("Zx9"), std::string::npos) << r;
  }
}

// Found by fuzz/url_secrets_fuzzer (a password holding a raw "@" and then a
// raw "?"): the echo hid up to the last "@" before the first "?", so the
// part of the password after its "?" showed ("9?Lm" of "Xy@9?LmZx9Secret").
// The echo now hides up to the last "@" of all, as url.hpp says.
TEST(UrlPassword, RawAtThenQuestionMarkInThePasswordIsHiddenBug) {
  const std::string in = "postgresql://u:Xy@9?LmZx9Secret@h/db";
  try {
    (void)url::parse(in);
    ADD_FAILURE() << "accepted";
  } catch (const url_error& e) {
    EXPECT_EQ(std::string(e.what()).find("Zx9Secret"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("Lm"), std::string::npos) << e.what();
  }
  EXPECT_EQ(redact_url(in), "postgresql://u:***@h/db");
  // Then a password parameter after an "@" in the query: hidden too (the
  // parameters were read only after the last "@").
  EXPECT_EQ(redact_url("postgresql://h?application_name=a:b@c&password=Zx9Secret"),
            "postgresql://h?application_name=a:***@c&password=***");
  // Overlapping spans (a raw "?" in the password, then "password="): hidden as one.
  EXPECT_EQ(redact_url("postgresql://u:a?password=Zx9Secret@h/db"), "postgresql://u:***");
}

// Found by fuzz/url_secrets_fuzzer: a raw "?" in the user name starts the
// query there, so the password reads as a parameter key, which the message
// for a bad escape in its value named ("the value of parameter x:Zx9Secret").
TEST(UrlPassword, KeyInsideThePasswordIsNotNamedBug) {
  try {
    (void)url::parse("postgresql://u?x:Zx9Secret=%zz@h/db");
    ADD_FAILURE() << "accepted";
  } catch (const url_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("Zx9Secret"), std::string::npos) << what;
    EXPECT_NE(what.find("the value of a parameter has a bad percent-escape"), std::string::npos) << what;
  }
}

TEST(UrlPassword, RedactUrlLeavesTheRestReadable) {
  EXPECT_EQ(redact_url("postgresql://u:pw@h:99999/db"), "postgresql://u:***@h:99999/db");
  EXPECT_EQ(redact_url("postgresql://u@h:5432/db"), "postgresql://u@h:5432/db");
  EXPECT_EQ(redact_url("sqlite:a.db?x=1"), "sqlite:a.db?x=1");
  EXPECT_EQ(redact_url("postgresql://h/db?password=pw&a=1"), "postgresql://h/db?password=***&a=1");
}

}  // namespace
}  // namespace berth
