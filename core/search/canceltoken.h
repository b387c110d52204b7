#pragma once

#include <atomic>
#include <memory>

namespace ts {

// Set from any thread to stop a query at the next photo or batch; a new query normally cancels
// the last. Copies share one flag.
class CancelToken {
public:
    CancelToken() : m_flag(std::make_shared<std::atomic<bool>>(false)) {}
    void cancel() const { m_flag->store(true); }
    bool isCancelled() const { return m_flag->load(); }

private:
    std::shared_ptr<std::atomic<bool>> m_flag;
};

} // namespace ts
