// Runs a task on its own thread every `interval` until destroyed (the destructor waits for a run under way).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace tally {

class Periodic {
 public:
  // `at_once`: the first run is right away instead of after one interval.
  Periodic(std::chrono::milliseconds interval, std::function<void()> task, bool at_once = false);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tally
