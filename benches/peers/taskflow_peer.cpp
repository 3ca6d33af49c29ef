// C++ Taskflow on bench_report's five shapes, the peer the dynamic graph is measured
// against: build the taskflow, run it, destroy it, per task, as `Delayed` graphs are
// built, computed and dropped. Trivial tasks pass their results through a vector, as
// taskweave's nodes pass theirs through slots.
//
// Taskflow is header-only and not vendored here (no network beyond the package
// registries in CI); to build the peer:
//
//   git clone --depth 1 https://github.com/taskflow/taskflow /tmp/taskflow
//   g++ -O2 -std=c++20 -pthread -I/tmp/taskflow benches/peers/taskflow_peer.cpp \
//       -o target/taskflow_peer
//   TASKWEAVE_TASKFLOW=target/taskflow_peer cargo run --release --example bench_report -- --compare --quick
//
// Alone: `target/taskflow_peer --threads 2 --sizes 1000,10000 --reps 5` prints one
// line per workload and size: `workload tasks ns_per_task` (the median of the reps,
// after one warm-up), and exits non-zero if a shape computed a wrong value.

#include <taskflow/taskflow.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using u64 = std::uint64_t;

// The shapes' parameters and values, as bench_report's `Workload` defines them.
static u64 param(const std::string& w, u64 n) {
  if (w == "wavefront") return std::max<u64>(2, (u64)std::sqrt((double)n));
  if (w == "binary_tree") return std::max<u64>(2, 64 - __builtin_clzll(n));
  return n;
}

static u64 tasks(const std::string& w, u64 p) {
  if (w == "fan_in") return 2 * p - 1;
  if (w == "wavefront") return p * p;
  if (w == "binary_tree") return (u64(1) << p) - 1;
  return p;
}

static u64 expected(const std::string& w, u64 p) {
  if (w == "chain") return p;
  if (w == "fan_in" || w == "parallel") {
    u64 s = 0;
    for (u64 i = 1; i <= p; i++) s += i;
    return s;
  }
  if (w == "wavefront") {
    std::vector<u64> row(p, 1);
    for (u64 i = 1; i < p; i++) {
      std::vector<u64> next{row[0] + 1};
      for (u64 j = 1; j < p; j++) next.push_back(row[j] + next[j - 1]);
      row = next;
    }
    return row[p - 1];
  }
  return (u64(1) << (p - 1)) * p;  // binary_tree: the sum of the leaves
}

// One build + run + destroy of shape `w` with parameter `p`: its value.
static u64 run_once(tf::Executor& ex, const std::string& w, u64 p) {
  std::vector<u64> v(tasks(w, p) + 1, 0);
  u64* vals = v.data();
  u64 out = 0;
  {
    tf::Taskflow flow;
    if (w == "chain") {
      tf::Task prev = flow.emplace([vals] { vals[0] = 0 + 1; });
      for (u64 i = 1; i < p; i++) {
        tf::Task t = flow.emplace([vals, i] { vals[i] = vals[i - 1] + 1; });
        prev.precede(t);
        prev = t;
      }
      ex.run(flow).wait();
      out = vals[p - 1];
    } else if (w == "fan_in") {
      std::vector<std::pair<tf::Task, u64>> level;
      for (u64 i = 0; i < p; i++)
        level.push_back({flow.emplace([vals, i] { vals[i] = i + 1; }), i});
      u64 next_slot = p;
      while (level.size() > 1) {
        std::vector<std::pair<tf::Task, u64>> next;
        for (size_t k = 0; k + 1 < level.size(); k += 2) {
          u64 a = level[k].second, b = level[k + 1].second, s = next_slot++;
          tf::Task t = flow.emplace([vals, a, b, s] { vals[s] = vals[a] + vals[b]; });
          level[k].first.precede(t);
          level[k + 1].first.precede(t);
          next.push_back({t, s});
        }
        if (level.size() % 2 == 1) next.push_back(level.back());
        level = std::move(next);
      }
      ex.run(flow).wait();
      out = vals[level[0].second];
    } else if (w == "wavefront") {
      std::vector<tf::Task> row(p), next(p);
      for (u64 j = 0; j < p; j++) row[j] = flow.emplace([vals, j] { vals[j] = 0 + 1; });
      for (u64 i = 1; i < p; i++) {
        u64 base = i * p, up = (i - 1) * p;
        next[0] = flow.emplace([vals, base, up] { vals[base] = vals[up] + 1; });
        row[0].precede(next[0]);
        for (u64 j = 1; j < p; j++) {
          next[j] = flow.emplace(
              [vals, base, up, j] { vals[base + j] = vals[up + j] + vals[base + j - 1]; });
          row[j].precede(next[j]);
          next[j - 1].precede(next[j]);
        }
        std::swap(row, next);
      }
      ex.run(flow).wait();
      out = vals[p * p - 1];
    } else if (w == "binary_tree") {
      // Node k's children are 2k + 1 and 2k + 2; each adds one to its parent.
      u64 n = tasks(w, p);
      std::vector<tf::Task> t(n);
      t[0] = flow.emplace([vals] { vals[0] = 0 + 1; });
      for (u64 k = 1; k < n; k++) {
        u64 parent = (k - 1) / 2;
        t[k] = flow.emplace([vals, k, parent] { vals[k] = vals[parent] + 1; });
        t[parent].precede(t[k]);
      }
      u64 first_leaf = (n - 1) / 2;
      tf::Task sum = flow.emplace([vals, first_leaf, n] {
        u64 s = 0;
        for (u64 k = first_leaf; k < n; k++) s += vals[k];
        vals[n] = s;
      });
      for (u64 k = first_leaf; k < n; k++) t[k].precede(sum);
      ex.run(flow).wait();
      out = vals[n];
    } else {  // parallel
      tf::Task sum = flow.emplace([vals, p] {
        u64 s = 0;
        for (u64 i = 0; i < p; i++) s += vals[i];
        vals[p] = s;
      });
      for (u64 i = 0; i < p; i++) flow.emplace([vals, i] { vals[i] = i + 1; }).precede(sum);
      ex.run(flow).wait();
      out = vals[p];
    }
  }  // the taskflow is destroyed here, inside the timed part
  return out;
}

int main(int argc, char** argv) {
  unsigned threads = 2;
  int reps = 5;
  std::vector<u64> sizes{1000, 10000};
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = (unsigned)std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) {
      sizes.clear();
      for (char* s = std::strtok(argv[++i], ","); s; s = std::strtok(nullptr, ","))
        sizes.push_back(std::strtoull(s, nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: taskflow_peer [--threads N] [--sizes A,B] [--reps R]\n");
      return 2;
    }
  }
  tf::Executor ex(threads);
  const char* workloads[] = {"chain", "fan_in", "wavefront", "binary_tree", "parallel"};
  for (const char* wc : workloads) {
    std::string w = wc;
    for (u64 n : sizes) {
      u64 p = param(w, n);
      if (run_once(ex, w, p) != expected(w, p)) {
        std::fprintf(stderr, "%s %llu: wrong value\n", wc, (unsigned long long)n);
        return 1;
      }
      std::vector<double> ns;
      for (int r = 0; r < reps; r++) {
        auto start = std::chrono::steady_clock::now();
        u64 got = run_once(ex, w, p);
        auto took = std::chrono::steady_clock::now() - start;
        if (got != expected(w, p)) return 1;
        ns.push_back(std::chrono::duration<double, std::nano>(took).count() / tasks(w, p));
      }
      std::sort(ns.begin(), ns.end());
      std::printf("%s %llu %.1f\n", wc, (unsigned long long)tasks(w, p), ns[ns.size() / 2]);
    }
  }
  return 0;
}
