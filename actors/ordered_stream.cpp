#include "actors/ordered_stream.hpp"

namespace hearth::actors {

void ordered_stream::reset(std::int64_t last, std::vector<storage::change_event>& out) {
  last_ = last;
  pending_.erase(pending_.begin(), pending_.upper_bound(last));
  drain(out);
}

std::optional<ordered_stream::gap> ordered_stream::offer(storage::change_event e,
                                                         std::vector<storage::change_event>& out) {
  if (last_ && e.seq <= *last_) return std::nullopt;  // duplicate
  pending_.emplace(e.seq, std::move(e));
  if (!last_) return std::nullopt;
  drain(out);
  return current_gap();
}

std::optional<ordered_stream::gap> ordered_stream::current_gap() const {
  if (!last_) return std::nullopt;
  if (!pending_.empty()) return gap{*last_, pending_.begin()->first};
  if (known_head_ > *last_) return gap{*last_, known_head_ + 1};
  return std::nullopt;
}

void ordered_stream::skip_gap(std::vector<storage::change_event>& out) {
  if (!last_) return;
  if (!pending_.empty()) {
    last_ = pending_.begin()->first - 1;
  } else if (known_head_ > *last_) {
    last_ = known_head_;
  }
  drain(out);
}

void ordered_stream::drain(std::vector<storage::change_event>& out) {
  while (!pending_.empty() && pending_.begin()->first == *last_ + 1) {
    out.push_back(std::move(pending_.begin()->second));
    pending_.erase(pending_.begin());
    ++*last_;
  }
}

}  // namespace hearth::actors
