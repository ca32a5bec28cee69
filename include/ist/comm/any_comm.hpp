#pragma once
// AnyComm: a Communicator chosen at run time. A program that runs its workers either in process or as MPI
// ranks, by a flag, holds one AnyComm and so instantiates its trainer once per model, not once per model and
// communicator: the engine is the largest template of the library, and each extra instantiation costs
// compile time in every program that offers both (ist-train, gist-gcn).
//
//   ist::AnyComm comm = use_mpi ? ist::AnyComm(ist::MpiComm()) : ist::AnyComm(ist::InProcessComm(S));
//   ist::CpuBackend<ist::AnyComm> backend(std::move(comm), threads);
//
// It wraps any Communicator C (communicator.hpp) and offers every optional member, each doing what the
// engine would do for C:
//   - check_round: C's, or nothing (a communicator without it is one process: there is nothing to compare);
//   - all_sum: C's, or nothing (without it, C is one process, and the sum over one process is the values);
//   - to_all_workers: C's; broadcasts_to_workers() says whether C has one, and the engine asks it before
//     broadcasting (an in-process communicator has no broadcast: each worker's buffer is its own);
//   - to_worker_bytes / to_coordinator_bytes: C's, or an ist::Error that names the missing members.
// A virtual call per message and per sum: nothing next to the messages themselves.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ist/comm/communicator.hpp"
#include "ist/comm/ledger.hpp"
#include "ist/core/error.hpp"

namespace ist {

class AnyComm {
 public:
  template <class C>
    requires(Communicator<C> && !std::same_as<std::remove_cvref_t<C>, AnyComm>)
  AnyComm(C comm) : impl_(std::make_unique<Model<C>>(std::move(comm))) {}  // NOLINT: converts on purpose

  int num_workers() const { return impl_->num_workers(); }
  bool is_coordinator() const { return impl_->is_coordinator(); }
  bool is_local(int w) const { return impl_->is_local(w); }
  void to_worker(int w, std::span<const float> src, std::span<float> dst) { impl_->to_worker(w, src, dst); }
  void to_coordinator(int w, std::span<const float> src, std::span<float> dst) { impl_->to_coordinator(w, src, dst); }
  void run_workers(std::function<void(int)> f) { impl_->run_workers(std::move(f)); }
  CommLedger& ledger() { return impl_->ledger(); }

  void check_round(std::uint64_t round, std::uint64_t fingerprint) { impl_->check_round(round, fingerprint); }
  bool broadcasts_to_workers() const { return impl_->broadcasts_to_workers(); }
  void to_all_workers(std::span<const float> src, std::span<float> dst) { impl_->to_all_workers(src, dst); }
  void all_sum(std::span<double> values) { impl_->all_sum(values); }
  void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    impl_->to_worker_bytes(w, src, dst);
  }
  void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) {
    impl_->to_coordinator_bytes(w, src, dst);
  }

  // The wrapped communicator, when it is a C (else nullptr): for what only C offers (MpiComm::rank()).
  template <class C>
  C* get() {
    auto* m = dynamic_cast<Model<C>*>(impl_.get());
    return m ? &m->comm : nullptr;
  }

 private:
  struct Interface {
    virtual ~Interface() = default;
    virtual int num_workers() const = 0;
    virtual bool is_coordinator() const = 0;
    virtual bool is_local(int w) const = 0;
    virtual void to_worker(int w, std::span<const float> src, std::span<float> dst) = 0;
    virtual void to_coordinator(int w, std::span<const float> src, std::span<float> dst) = 0;
    virtual void run_workers(std::function<void(int)> f) = 0;
    virtual CommLedger& ledger() = 0;
    virtual void check_round(std::uint64_t round, std::uint64_t fingerprint) = 0;
    virtual bool broadcasts_to_workers() const = 0;
    virtual void to_all_workers(std::span<const float> src, std::span<float> dst) = 0;
    virtual void all_sum(std::span<double> values) = 0;
    virtual void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) = 0;
    virtual void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) = 0;
  };

  template <class C>
  struct Model final : Interface {
    explicit Model(C c) : comm(std::move(c)) {}
    int num_workers() const override { return comm.num_workers(); }
    bool is_coordinator() const override { return comm.is_coordinator(); }
    bool is_local(int w) const override { return comm.is_local(w); }
    void to_worker(int w, std::span<const float> src, std::span<float> dst) override { comm.to_worker(w, src, dst); }
    void to_coordinator(int w, std::span<const float> src, std::span<float> dst) override {
      comm.to_coordinator(w, src, dst);
    }
    void run_workers(std::function<void(int)> f) override { comm.run_workers(std::move(f)); }
    CommLedger& ledger() override { return comm.ledger(); }
    void check_round(std::uint64_t round, std::uint64_t fingerprint) override {
      if constexpr (ChecksRounds<C>) comm.check_round(round, fingerprint);
    }
    bool broadcasts_to_workers() const override { return BroadcastsToWorkers<C>; }
    void to_all_workers(std::span<const float> src, std::span<float> dst) override {
      if constexpr (BroadcastsToWorkers<C>)
        comm.to_all_workers(src, dst);
      else
        fail("ist::AnyComm::to_all_workers: the wrapped communicator (", typeid(C).name(),
             ") has no broadcast; callers ask broadcasts_to_workers() first");
    }
    void all_sum(std::span<double> values) override {
      if constexpr (SumsOverProcesses<C>) comm.all_sum(values);
    }
    void to_worker_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) override {
      if constexpr (MovesBytes<C>)
        comm.to_worker_bytes(w, src, dst);
      else
        no_bytes();
    }
    void to_coordinator_bytes(int w, std::span<const std::byte> src, std::vector<std::byte>& dst) override {
      if constexpr (MovesBytes<C>)
        comm.to_coordinator_bytes(w, src, dst);
      else
        no_bytes();
    }
    [[noreturn]] static void no_bytes() {
      fail("ist::AnyComm: the wrapped communicator (", typeid(C).name(),
           ") moves no byte payloads, which transfer codecs other than float32 need: give it to_worker_bytes and "
           "to_coordinator_bytes (communicator.hpp), or use --codec float32");
    }
    C comm;
  };

  std::unique_ptr<Interface> impl_;
};

static_assert(Communicator<AnyComm> && ChecksRounds<AnyComm> && BroadcastsToWorkers<AnyComm> &&
              SumsOverProcesses<AnyComm> && MovesBytes<AnyComm>);

}  // namespace ist
