// Tests of the live status: the mode chosen for a stream, the text, the
// terminal redraw (carriage return, clear to end of line, truncation to the
// width) against plain periodic lines, and BERTH_LIVE.
#include <berth/live/status_line.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace berth::live {
namespace {

using namespace std::chrono_literals;

TEST(StatusModeTest, AutomaticIsTerminalOnlyOnATerminal) {
  EXPECT_EQ(choose_status_mode(std::nullopt, true), status_mode::terminal);
  EXPECT_EQ(choose_status_mode(std::nullopt, false), status_mode::off);
  EXPECT_EQ(choose_status_mode(true, true), status_mode::terminal);
  EXPECT_EQ(choose_status_mode(true, false), status_mode::plain);
  EXPECT_EQ(choose_status_mode(false, true), status_mode::off);
  EXPECT_EQ(choose_status_mode(false, false), status_mode::off);
}

TEST(StatusModeTest, BerthLiveEnvironmentVariable) {
  const char* saved = std::getenv("BERTH_LIVE");
  const std::string keep = saved ? saved : "";
  ::unsetenv("BERTH_LIVE");
  EXPECT_EQ(live_from_env(), std::nullopt);
  ::setenv("BERTH_LIVE", "1", 1);
  EXPECT_EQ(live_from_env(), std::optional<bool>{true});
  ::setenv("BERTH_LIVE", "0", 1);
  EXPECT_EQ(live_from_env(), std::optional<bool>{false});
  ::setenv("BERTH_LIVE", "", 1);
  EXPECT_EQ(live_from_env(), std::nullopt);
  ::setenv("BERTH_LIVE", "maybe", 1);
  EXPECT_THROW(live_from_env(), std::invalid_argument);
  if (saved)
    ::setenv("BERTH_LIVE", keep.c_str(), 1);
  else
    ::unsetenv("BERTH_LIVE");
}

TEST(FormatTest, DurationsAndRates) {
  EXPECT_EQ(format_duration(850ns), "850ns");
  EXPECT_EQ(format_duration(2500ns), "2.50us");
  EXPECT_EQ(format_duration(12'400ns), "12.4us");
  EXPECT_EQ(format_duration(1'200'000ns), "1.20ms");
  EXPECT_EQ(format_duration(3'050'000'000ns), "3.05s");
  EXPECT_EQ(format_rate(950), "950");
  EXPECT_EQ(format_rate(12'300), "12.3k");
  EXPECT_EQ(format_rate(1'234'000), "1.23M");
  EXPECT_EQ(format_rate(456'000'000), "456M");
}

struct StatusLineTest : ::testing::Test {
  sample s;
  phase_info ph;
  void SetUp() override {
    ph.name = "hammer-32";
    ph.pools = {"pool"};
    ph.timeouts = 12;
    s.elapsed = 12'340ms;
    s.window = 250ms;
    s.ops = 307'500;  // 1.23M/s
    pool_counts c;
    c.leased = 32;
    c.max_size = 32;
    c.idle = 0;
    c.waiting = 104;
    s.pools = {c};
    s.latency = {.count = 10, .p50 = 3100ns, .p99 = 1'200'000ns, .max = 4'000'000ns};
  }
};

TEST_F(StatusLineTest, TheTextNamesEveryFigure) {
  EXPECT_EQ(format_status(s, ph),
            "12.3s hammer-32 | 1.23M ops/s | pool 32/32 leased, 0 idle, 104 waiting | 12 timeouts | "
            "p50 3.10us p99 1.20ms max 4.00ms");
  s.pools[0].connecting = 2;
  s.latency.count = 0;
  EXPECT_EQ(format_status(s, ph),
            "12.3s hammer-32 | 1.23M ops/s | pool 32/32 leased, 0 idle, 104 waiting, 2 connecting | 12 timeouts");
}

TEST_F(StatusLineTest, TerminalRedrawsInPlaceAndClears) {
  status_line line(status_mode::terminal, 5s);
  EXPECT_EQ(line.clear(), "") << "nothing drawn yet";
  const std::string out = line.render(s, ph, 0);
  EXPECT_EQ(out, "\r" + format_status(s, ph) + "\x1b[K");
  EXPECT_EQ(out.find('\n'), std::string::npos) << "a terminal status never ends the line";
  EXPECT_EQ(line.render(s, ph, 0), out) << "every sample redraws";
  EXPECT_EQ(line.clear(), "\r\x1b[K");
  EXPECT_EQ(line.clear(), "") << "cleared once";
}

TEST_F(StatusLineTest, TerminalLineIsCutToTheWidthSoItNeverWraps) {
  status_line line(status_mode::terminal, 5s);
  const std::string out = line.render(s, ph, 40);
  EXPECT_EQ(out, "\r" + format_status(s, ph).substr(0, 39) + "\x1b[K");
}

TEST_F(StatusLineTest, PlainPrintsWholeLinesEveryPeriod) {
  status_line line(status_mode::plain, 5s);
  s.elapsed = 4s;
  EXPECT_EQ(line.render(s, ph, 0), "") << "not before the first period";
  s.elapsed = 5s;
  const std::string out = line.render(s, ph, 0);
  EXPECT_EQ(out, "live: " + format_status(s, ph) + "\n");
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "no control sequences in a log";
  s.elapsed = 9'900ms;
  EXPECT_EQ(line.render(s, ph, 0), "");
  s.elapsed = 10'100ms;
  EXPECT_NE(line.render(s, ph, 0), "");
  EXPECT_EQ(line.clear(), "") << "plain lines are never erased";
}

TEST_F(StatusLineTest, OffWritesNothing) {
  status_line line(status_mode::off, 5s);
  s.elapsed = 60s;
  EXPECT_EQ(line.render(s, ph, 80), "");
  EXPECT_EQ(line.clear(), "");
}

}  // namespace
}  // namespace berth::live
