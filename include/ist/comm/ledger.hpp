#pragma once
// CommLedger: every byte moved between the coordinator and each worker, per round.
#include <cstdint>
#include <vector>

#include "ist/core/error.hpp"

namespace ist {

struct WorkerTraffic {
  std::uint64_t to_worker = 0;    // bytes the coordinator sent to the worker
  std::uint64_t from_worker = 0;  // bytes the worker sent back
  std::uint64_t messages = 0;
  std::uint64_t total() const noexcept { return to_worker + from_worker; }
};

class CommLedger {
 public:
  void begin_round(std::uint64_t round, int workers) {
    round_ = round;
    current_.assign(std::size_t(workers), WorkerTraffic{});
    if (cumulative_.size() < current_.size()) cumulative_.resize(current_.size());
  }
  void add_to_worker(int w, std::uint64_t bytes) {
    at(w).to_worker += bytes;
    at(w).messages += 1;
    cumulative_[std::size_t(w)].to_worker += bytes;
    cumulative_[std::size_t(w)].messages += 1;
  }
  void add_from_worker(int w, std::uint64_t bytes) {
    at(w).from_worker += bytes;
    at(w).messages += 1;
    cumulative_[std::size_t(w)].from_worker += bytes;
    cumulative_[std::size_t(w)].messages += 1;
  }
  std::uint64_t round() const noexcept { return round_; }
  const std::vector<WorkerTraffic>& this_round() const noexcept { return current_; }
  const std::vector<WorkerTraffic>& cumulative() const noexcept { return cumulative_; }
  static std::uint64_t total(const std::vector<WorkerTraffic>& t) {
    std::uint64_t n = 0;
    for (const auto& w : t) n += w.total();
    return n;
  }
  static std::uint64_t messages(const std::vector<WorkerTraffic>& t) {
    std::uint64_t n = 0;
    for (const auto& w : t) n += w.messages;
    return n;
  }
  std::uint64_t round_bytes() const { return total(current_); }
  std::uint64_t total_bytes() const { return total(cumulative_); }

 private:
  WorkerTraffic& at(int w) {
    IST_CHECK(w >= 0 && std::size_t(w) < current_.size(), "ist::CommLedger: worker ", w, " is out of range [0, ",
              current_.size(), "); call begin_round first");
    return current_[std::size_t(w)];
  }
  std::uint64_t round_ = 0;
  std::vector<WorkerTraffic> current_, cumulative_;
};

}  // namespace ist
