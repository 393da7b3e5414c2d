#include "common/periodic.h"

namespace tally {

Periodic::Periodic(std::chrono::milliseconds interval, std::function<void()> task, bool at_once)
    : thread_([this, interval, task = std::move(task), at_once] {
        if (at_once) task();
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
          lock.unlock();
          task();
          lock.lock();
        }
      }) {}

Periodic::~Periodic() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

}  // namespace tally
