#include "engine/cron.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <stdexcept>

namespace hearth::engine {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

int number(std::string_view s, std::string_view field) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    throw std::invalid_argument(fmt::format("cron {}: '{}' is not a number", field, s));
  return v;
}

// One field: *, n, a-b, with /step, comma-separated.
std::vector<bool> field(std::string_view text, int lo, int hi, std::string_view name, bool& any) {
  std::vector<bool> set(static_cast<std::size_t>(hi + 1), false);
  // As Vixie cron: a field starting with * (also */n) counts as unrestricted
  // for the day-of-month / day-of-week rule.
  any = !text.empty() && text.front() == '*';
  for (auto part : split(text, ',')) {
    int step = 1;
    bool stepped = false;
    if (auto slash = part.find('/'); slash != std::string_view::npos) {
      step = number(part.substr(slash + 1), name);
      if (step < 1 || step > hi - lo + 1)
        throw std::invalid_argument(fmt::format("cron {}: step must be 1-{}", name, hi - lo + 1));
      part = part.substr(0, slash);
      stepped = true;
    }
    int a = lo, b = hi;
    if (part != "*") {
      auto dash = part.find('-');
      a = number(part.substr(0, dash), name);
      // "a/n" runs from a to the end of the range, as in Vixie cron.
      b = dash == std::string_view::npos ? (stepped ? hi : a) : number(part.substr(dash + 1), name);
    }
    if (a < lo || b > hi || a > b)
      throw std::invalid_argument(
          fmt::format("cron {}: '{}' is outside {}-{}", name, part, lo, hi));
    for (int v = a; v <= b; v += step) set[static_cast<std::size_t>(v)] = true;
  }
  return set;
}

}  // namespace

cron_schedule cron_schedule::parse(std::string_view text) {
  cron_schedule s;
  s.text_ = std::string(text);
  if (text.substr(0, 6) == "every ") {
    auto amount = text.substr(6);
    if (amount.size() < 2) throw std::invalid_argument("schedule: expected e.g. 'every 5m'");
    char unit = amount.back();
    std::int64_t n = number(amount.substr(0, amount.size() - 1), "interval");
    std::int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
    if (!scale) throw std::invalid_argument("schedule: interval unit must be s, m or h");
    s.every_ = n * scale;
    if (s.every_ <= 0 || 86'400 % s.every_ != 0)
      throw std::invalid_argument(
          fmt::format("schedule: '{}' must divide 24 h evenly (e.g. 'every 5m')", text));
    return s;
  }
  std::vector<std::string_view> fields;
  for (auto f : split(text, ' '))
    if (!f.empty()) fields.push_back(f);
  if (fields.size() != 5)
    throw std::invalid_argument(fmt::format(
        "schedule: '{}' is neither 'every <n>s|m|h' nor a 5-field cron expression", text));
  bool ignored = false;
  s.minute_ = field(fields[0], 0, 59, "minute", ignored);
  s.hour_ = field(fields[1], 0, 23, "hour", ignored);
  s.mday_ = field(fields[2], 1, 31, "day of month", s.mday_any_);
  s.month_ = field(fields[3], 1, 12, "month", ignored);
  s.wday_ = field(fields[4], 0, 7, "day of week", s.wday_any_);
  if (s.wday_[7]) s.wday_[0] = true;
  if (s.next(0) < 0) throw std::invalid_argument(fmt::format("schedule: '{}' never fires", text));
  return s;
}

namespace {

constexpr std::int64_t kMinute = 60, kHour = 3'600, kDay = 86'400;

// The start of the unit (day, hour) holding `t`, also for t < 0.
std::int64_t floor_to(std::int64_t t, std::int64_t unit) {
  auto q = t / unit;
  if (t % unit < 0) --q;
  return q * unit;
}

}  // namespace

bool cron_schedule::matches_day(std::int64_t day_start) const {
  using namespace std::chrono;
  sys_days day{days{day_start / kDay}};
  year_month_day ymd{day};
  if (!month_[static_cast<unsigned>(ymd.month())]) return false;
  bool mday = mday_[static_cast<unsigned>(ymd.day())];
  bool wday = wday_[weekday{day}.c_encoding()];
  if (mday_any_ || wday_any_) return mday && wday;
  return mday || wday;
}

// Both searches go minute by minute, but skip a whole day or hour that
// cannot match: a schedule that fires once in four years (29 February) or
// never costs a few thousand steps, not two million.
std::int64_t cron_schedule::next(std::int64_t t) const {
  if (every_) return (t / every_ + 1) * every_;
  auto m = (t / kMinute + 1) * kMinute;
  const auto end = m + 4 * 366 * kDay;  // looks at most four years ahead
  while (m < end) {
    auto day = floor_to(m, kDay);
    if (!matches_day(day)) {
      m = day + kDay;
      continue;
    }
    auto hour = floor_to(m, kHour);
    if (!hour_[static_cast<std::size_t>((hour - day) / kHour)]) {
      m = hour + kHour;
      continue;
    }
    if (minute_[static_cast<std::size_t>((m - hour) / kMinute)]) return m;
    m += kMinute;
  }
  return -1;
}

std::int64_t cron_schedule::previous(std::int64_t t, std::int64_t horizon) const {
  if (every_) return t / every_ * every_;
  for (auto m = t / kMinute * kMinute; m >= t - horizon;) {
    auto day = floor_to(m, kDay);
    if (!matches_day(day)) {
      m = day - kMinute;
      continue;
    }
    auto hour = floor_to(m, kHour);
    if (!hour_[static_cast<std::size_t>((hour - day) / kHour)]) {
      m = hour - kMinute;
      continue;
    }
    if (minute_[static_cast<std::size_t>((m - hour) / kMinute)]) return m;
    m -= kMinute;
  }
  return -1;
}

}  // namespace hearth::engine
