// ist_bench_mpi: what MpiComm moves per second, next to plain MPI calls moving the same bytes, and the time
// of a ResIST round under MPI.
//
//   mpirun -np 4 ist_bench_mpi [--min-bytes 4096] [--max-bytes 67108864] [--iters N] [--reps 5]
//                              [--rounds 3] [--local-steps 5] [--batch 32] [--json out.json]
//
// Conventions of nccl-tests (doc/PERFORMANCE.md): time is per operation; algbw = size / time; busbw
// = algbw * factor, the rate at which bytes cross the busiest link, comparable with the hardware's peak:
//   scatter / gather (rank 0 <-> each worker, S-1 messages of `size`): size = S * message bytes,
//                                                                       factor (S-1)/S
//   broadcast: factor 1;   all-reduce: factor 2(S-1)/S.
// Rows:
//   to_worker        MpiComm::to_worker(w) for w = 1..S-1, as the trainer sends slices (scatter; worker 0's
//                    slices are a copy inside rank 0 and not part of the comparison)
//   send (plain)     MPI_Send / MPI_Recv of the same bytes to the same ranks          (scatter)
//   to_coordinator   MpiComm::to_coordinator(w) for w = 1..S-1, as the trainer collects (gather)
//   recv (plain)     MPI_Send / MPI_Recv of the same bytes                            (gather)
//   to_all_workers   MpiComm::to_all_workers (Replicate's rounds; as the trainer calls it, rank 0's source
//                    is worker 0's buffer)                                           (broadcast)
//   bcast (plain)    MPI_Bcast
//   allreduce        MPI_Allreduce (sum) of floats: what data-parallel SGD would need per step
// `vs plain` is our busbw over the plain call's. Each figure is the median of --reps repetitions of
// --iters operations (iters shrink with the size). Rank 0 prints; --json writes every row.
#include <CLI/CLI.hpp>
#include <mpi.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/mpi_check.hpp"
#include "ist/comm/mpi_comm.hpp"
#include "ist/core/atomic_file.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"

namespace {

struct Options {
  std::size_t min_bytes = 4096, max_bytes = std::size_t(64) << 20;
  int iters = 0;  // 0: about 256 MB per repetition, between 5 and 1000 operations
  int reps = 5;
  int rounds = 3, local_steps = 5, batch = 32;
  std::string json;
};

struct Row {
  std::string op, pattern;
  std::size_t bytes = 0;  // message bytes (per worker)
  double seconds = 0;     // per operation
  double algbw = 0, busbw = 0, vs_plain = 0;
};

int rank_of(MPI_Comm c) {
  int r = 0;
  MPI_Comm_rank(c, &r);
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs op() iters times per repetition after a barrier; returns the median time per operation. `finish`
// runs once per repetition after the operations (an acknowledgement so that rank 0's clock covers them).
template <class Op, class Finish>
double time_op(MPI_Comm comm, int iters, int reps, Op&& op, Finish&& finish) {
  std::vector<double> t;
  op();  // warm up
  finish();
  for (int r = 0; r < reps; ++r) {
    IST_MPI_CHECK(MPI_Barrier(comm));
    const double t0 = MPI_Wtime();
    for (int i = 0; i < iters; ++i) op();
    finish();
    t.push_back((MPI_Wtime() - t0) / iters);
  }
  double m = median(t);
  IST_MPI_CHECK(MPI_Bcast(&m, 1, MPI_DOUBLE, 0, comm));  // rank 0's clock decides
  return m;
}

// Workers tell rank 0 they have everything (scatter), or rank 0 has received everything already (gather).
void ack_to_root(MPI_Comm comm) {
  const int me = rank_of(comm);
  int size = 1;
  MPI_Comm_size(comm, &size);
  char byte = 0;
  if (me == 0) {
    for (int w = 1; w < size; ++w) IST_MPI_CHECK(MPI_Recv(&byte, 1, MPI_CHAR, w, 99, comm, MPI_STATUS_IGNORE));
  } else {
    IST_MPI_CHECK(MPI_Send(&byte, 1, MPI_CHAR, 0, 99, comm));
  }
}

void run_transfers(const Options& o, ist::MpiComm& comm, std::vector<Row>& rows) {
  MPI_Comm c = comm.handle();
  const int S = comm.num_workers(), me = comm.rank();
  const double GB = 1e9;
  for (std::size_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= 4) {
    const std::size_t n = bytes / sizeof(float);
    const int iters = o.iters > 0 ? o.iters : int(std::clamp<std::size_t>((std::size_t(256) << 20) / bytes, 5, 1000));
    std::vector<float> src(n, 1.f), dst(n, 0.f);
    const auto noop = [] {};
    const auto ack = [&] { ack_to_root(c); };
    auto add = [&](const char* op, const char* pattern, double t, double size, double factor, const Row* plain) {
      Row r{op, pattern, bytes, t, size / t / GB, size / t / GB * factor, 0};
      if (plain) r.vs_plain = r.busbw / plain->busbw;
      rows.push_back(r);
      return rows.size() - 1;
    };
    const double scatter_size = double(S) * double(bytes), scatter_factor = double(S - 1) / S;

    // Scatter: rank 0 -> each worker in turn.
    const double t_send = time_op(c, iters, o.reps, [&] {
      if (me == 0) {
        for (int w = 1; w < S; ++w) IST_MPI_CHECK(MPI_Send(src.data(), int(n), MPI_FLOAT, w, 1, c));
      } else {
        IST_MPI_CHECK(MPI_Recv(dst.data(), int(n), MPI_FLOAT, 0, 1, c, MPI_STATUS_IGNORE));
      }
    }, ack);
    const double t_to_worker = time_op(c, iters, o.reps, [&] {
      comm.ledger().begin_round(0, S);
      for (int w = 1; w < S; ++w) {  // worker 0's slices are a copy inside rank 0, not timed here
        const bool local = w == me;
        comm.to_worker(w, me == 0 ? std::span<const float>(src) : std::span<const float>(),
                       local ? std::span<float>(dst) : std::span<float>());
      }
    }, ack);
    const std::size_t plain_send = add("send (plain)", "scatter", t_send, scatter_size, scatter_factor, nullptr);
    const Row send_row = rows[plain_send];
    add("to_worker", "scatter", t_to_worker, scatter_size, scatter_factor, &send_row);

    // Gather: each worker -> rank 0.
    std::vector<std::vector<float>> back(std::size_t(S), std::vector<float>(me == 0 ? n : 0));
    const double t_recv = time_op(c, iters, o.reps, [&] {
      if (me == 0) {
        for (int w = 1; w < S; ++w)
          IST_MPI_CHECK(MPI_Recv(back[std::size_t(w)].data(), int(n), MPI_FLOAT, w, 2, c, MPI_STATUS_IGNORE));
      } else {
        IST_MPI_CHECK(MPI_Send(src.data(), int(n), MPI_FLOAT, 0, 2, c));
      }
    }, noop);
    const double t_to_coord = time_op(c, iters, o.reps, [&] {
      comm.ledger().begin_round(0, S);
      for (int w = 1; w < S; ++w)
        comm.to_coordinator(w, w == me ? std::span<const float>(src) : std::span<const float>(),
                            std::span<float>(back[std::size_t(w)]));
    }, noop);
    const std::size_t plain_recv = add("recv (plain)", "gather", t_recv, scatter_size, scatter_factor, nullptr);
    const Row recv_row = rows[plain_recv];
    add("to_coordinator", "gather", t_to_coord, scatter_size, scatter_factor, &recv_row);

    // Broadcast.
    const double t_bcast = time_op(c, iters, o.reps, [&] {
      IST_MPI_CHECK(MPI_Bcast(me == 0 ? src.data() : dst.data(), int(n), MPI_FLOAT, 0, c));
    }, ack);
    const double t_all = time_op(c, iters, o.reps, [&] {
      comm.ledger().begin_round(0, S);
      // As the trainer calls it: on rank 0 the source is worker 0's own buffer, so nothing is copied.
      comm.to_all_workers(me == 0 ? std::span<const float>(dst) : std::span<const float>(), std::span<float>(dst));
    }, ack);
    const std::size_t plain_bcast = add("bcast (plain)", "broadcast", t_bcast, double(bytes), 1.0, nullptr);
    const Row bcast_row = rows[plain_bcast];
    add("to_all_workers", "broadcast", t_all, double(bytes), 1.0, &bcast_row);

    // All-reduce.
    const double t_allreduce = time_op(c, iters, o.reps, [&] {
      IST_MPI_CHECK(MPI_Allreduce(src.data(), dst.data(), int(n), MPI_FLOAT, MPI_SUM, c));
    }, noop);
    add("allreduce (plain)", "all-reduce", t_allreduce, double(bytes), 2.0 * (S - 1) / S, nullptr);
  }
}

struct RoundTimes {
  int rounds = 0, local_steps = 0, batch = 0;
  double round_seconds = 0, compute_seconds_max = 0;
  std::uint64_t bytes = 0;
  std::size_t params = 0;
};

// A ResIST round of the default model (PreAct ResNet-26 for 1x28x28) on synthetic images.
RoundTimes time_rounds(const Options& o) {
  using Net = ist::PreActResNet26Fashion<1, 10>;
  ist::ImageDataset d;
  d.n = 8 * o.batch;
  d.c = 1;
  d.h = d.w = 28;
  d.num_classes = 10;
  d.source = "synthetic";
  ist::Rng rng(7);
  d.pixels.resize(std::size_t(d.n) * 784);
  d.labels.resize(std::size_t(d.n));
  for (auto& y : d.labels) y = int(rng.below(10));
  for (auto& p : d.pixels) p = std::uint8_t(rng.below(256));
  ist::TrainerConfig cfg;
  cfg.local_steps = o.local_steps;
  cfg.batch = o.batch;
  cfg.max_rounds = o.rounds;
  cfg.progress = false;
  ist::IndependentSubnetTrainer<Net, ist::LayerwiseRandom, ist::HolderAverage, ist::CpuBackend<ist::MpiComm>> t(
      ist::LayerwiseRandom{}, ist::HolderAverage{}, ist::CpuBackend<ist::MpiComm>(ist::MpiComm()), cfg);
  t.prepare(d);
  t.train_round(0);  // warm up: allocation, first touch
  RoundTimes r{o.rounds, o.local_steps, o.batch, 0, 0, 0, Net::num_params};
  for (int i = 1; i <= o.rounds; ++i) {
    const ist::RoundRecord rec = t.train_round(std::uint64_t(i));
    r.round_seconds += rec.round_seconds / o.rounds;
    r.compute_seconds_max += rec.compute_seconds_max / o.rounds;
    r.bytes += rec.bytes() / std::uint64_t(o.rounds);
  }
  return r;
}

void write_json(const std::string& path, int S, const std::vector<Row>& rows, const RoundTimes& rt) {
  nlohmann::ordered_json transfers = nlohmann::ordered_json::array();
  for (const Row& r : rows)
    transfers.push_back({{"op", r.op}, {"pattern", r.pattern}, {"bytes", r.bytes}, {"time_us", r.seconds * 1e6},
                         {"algbw_GBps", r.algbw}, {"busbw_GBps", r.busbw}, {"vs_plain", r.vs_plain}});
  const nlohmann::ordered_json out = {
      {"ranks", S},
      {"transfers", std::move(transfers)},
      {"round",
       {{"model", "resnet26-fashion"}, {"params", rt.params}, {"local_steps", rt.local_steps}, {"batch", rt.batch},
        {"rounds", rt.rounds}, {"round_seconds", rt.round_seconds}, {"compute_seconds_max", rt.compute_seconds_max},
        {"bytes", rt.bytes}}}};
  ist::write_file_atomically(path, out.dump(2) + "\n");
}

// The flags (CLI11); --help lists them. Returns the exit code when the program should stop (--help: 0, a bad
// flag: non-zero), else nothing.
std::optional<int> parse(int argc, char** argv, Options& o, bool print) {
  CLI::App app{"ist_bench_mpi: MpiComm's transfers next to plain MPI calls of the same bytes, and a ResIST round "
               "under MPI (run it under mpirun with at least 2 ranks)"};
  app.add_option("--min-bytes", o.min_bytes, "smallest message, bytes")->capture_default_str();
  app.add_option("--max-bytes", o.max_bytes, "largest message, bytes (sizes double from --min-bytes)")
      ->capture_default_str();
  app.add_option("--iters", o.iters, "operations per repetition (0: about 256 MB per repetition, 5 to 1000)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 30));
  app.add_option("--reps", o.reps, "repetitions; each figure is their median")->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--rounds", o.rounds, "ResIST rounds to time (0: none)")->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--local-steps", o.local_steps, "local steps per round")->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--batch", o.batch, "batch per worker")->capture_default_str()->check(CLI::Range(1, 1 << 30));
  app.add_option("--json", o.json, "write every row to FILE (JSON)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return print ? app.exit(e) : e.get_exit_code();  // only rank 0 prints help and errors
  }
  IST_CHECK(o.min_bytes >= sizeof(float) && o.min_bytes <= o.max_bytes, "ist_bench_mpi: expected 4 <= --min-bytes <= "
            "--max-bytes, found ", o.min_bytes, " and ", o.max_bytes);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;  // MPI is called from the main thread only; OpenMP threads compute
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int me = rank_of(MPI_COMM_WORLD);
  Options o;
  if (const std::optional<int> stop = parse(argc, argv, o, me == 0)) {  // every rank parses the same flags
    MPI_Finalize();
    return *stop;
  }
  try {
    std::vector<Row> rows;
    RoundTimes rt;
    {
      ist::MpiComm comm;
      IST_CHECK(comm.num_workers() >= 2, "ist_bench_mpi: run it on at least 2 ranks (mpirun -np 2 ...)");
      run_transfers(o, comm, rows);
    }
    if (o.rounds > 0) rt = time_rounds(o);
    if (me == 0) {
      int S = 1;
      MPI_Comm_size(MPI_COMM_WORLD, &S);
      std::printf("# ist_bench_mpi: %d ranks; time per operation, median of %d repetitions; GB/s = 1e9 bytes/s\n", S,
                  o.reps);
      std::printf("# %-18s %-10s %12s %12s %10s %10s %9s\n", "op", "pattern", "bytes", "time (us)", "algbw", "busbw",
                  "vs plain");
      for (const Row& r : rows) {
        std::printf("  %-18s %-10s %12zu %12.2f %10.3f %10.3f", r.op.c_str(), r.pattern.c_str(), r.bytes,
                    r.seconds * 1e6, r.algbw, r.busbw);
        if (r.vs_plain > 0)
          std::printf(" %8.1f%%\n", 100 * r.vs_plain);
        else
          std::printf("\n");
      }
      if (o.rounds > 0)
        std::printf("# ResIST round, resnet26-fashion (%zu params), S = %d, L = %d, batch %d: %.3f s per round "
                    "(slowest worker's compute %.3f s, the rest %.3f s), %.2f MB moved per round\n",
                    rt.params, S, rt.local_steps, rt.batch, rt.round_seconds, rt.compute_seconds_max,
                    rt.round_seconds - rt.compute_seconds_max, rt.bytes / 1e6);
      if (!o.json.empty()) write_json(o.json, S, rows, rt);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist_bench_mpi: rank %d: error: %s\n", me, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return 0;
}
