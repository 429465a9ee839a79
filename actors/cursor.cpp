#include "actors/cursor.hpp"

namespace hearth::actors {

std::vector<stream_start> plan_stream_start(const cursor& heads,
                                            const std::optional<cursor>& resume,
                                            std::int64_t replay_window) {
  std::vector<stream_start> out;
  for (const auto& [household, head] : heads) {
    stream_start s{household, head, false};
    if (resume) {
      if (auto it = resume->find(household); it != resume->end()) {
        if (it->second > head || head - it->second > replay_window)
          s.resync = true;
        else
          s.seq = it->second;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace hearth::actors
