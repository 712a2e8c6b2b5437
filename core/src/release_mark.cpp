// release_mark.cpp: the list of threads that release; see release_mark.hpp.
#include <berth/detail/release_mark.hpp>

#include <mutex>
#include <type_traits>

#include <pthread.h>

namespace berth::detail {
namespace {

/// The listed records: an intrusive list guarded by `mutex`. A record lives
/// in its thread's static TLS and is unlinked by the key's destructor at the
/// thread's exit, before that storage goes.
struct release_list {
  std::mutex mutex;
  release_record* head = nullptr;
  pthread_key_t key{};
  bool key_made = false;

  static release_list& get() noexcept {
    static release_list l;  // first used by list_releaser(), before any unlink
    return l;
  }

  void link_locked(release_record& r) noexcept {
    r.prev = nullptr;
    r.next = head;
    if (head != nullptr) head->prev = &r;
    head = &r;
    r.listed = r.linked = true;
  }
  void unlink_locked(release_record& r) noexcept {
    if (!r.linked) return;  // a record the fork child dropped, or never linked
    (r.prev != nullptr ? r.prev->next : head) = r.next;
    if (r.next != nullptr) r.next->prev = r.prev;
    r.prev = r.next = nullptr;
    r.listed = r.linked = false;
  }

  /// The key's destructor: the thread is exiting, its record goes. It stays
  /// `listed`, so that a release in a later key destructor of this thread
  /// does not link it again: glibc runs at most PTHREAD_DESTRUCTOR_ITERATIONS
  /// rounds, and a record linked in the last one would outlive the thread's
  /// storage. Such a release (after C++ thread_local destructors, which run
  /// first) goes unmarked.
  static void on_thread_exit(void* p) noexcept {
    release_list& l = get();
    std::lock_guard lk(l.mutex);
    auto& r = *static_cast<release_record*>(p);
    l.unlink_locked(r);
    r.listed = true;
  }

  // fork(): the list must not be changing across it, and in the child only
  // the forking thread exists; the other records are the parent's threads'
  // (their TLS is copied but they will never run, release or exit here).
  static void prepare() noexcept { get().mutex.lock(); }
  static void parent() noexcept { get().mutex.unlock(); }
  static void child() noexcept {
    release_list& l = get();
    const bool mine = tls_release.linked;
    release_record* r = l.head;
    l.head = nullptr;
    while (r != nullptr) {
      release_record* next = r->next;
      r->prev = r->next = nullptr;
      r->listed = r->linked = false;
      r = next;
    }
    if (mine) l.link_locked(tls_release);  // the forking thread's record stays
    // Locked by this thread's prepare() before the fork: a normal mutex, so
    // the child (this thread under a new id) may release it.
    l.mutex.unlock();
  }
};

// Never destroyed: a pool destroyed during static destruction (a global
// pool), or a thread exiting then, still finds the list.
static_assert(std::is_trivially_destructible_v<release_list>);

}  // namespace

void list_releaser() noexcept {
  release_list& l = release_list::get();
  static const bool made = [&l] {
    // Fails only when the process has used up its keys (PTHREAD_KEYS_MAX)
    // or memory. Then no record is linked (below): releases behave as
    // before the marks, with the window open.
    l.key_made = ::pthread_key_create(&l.key, &release_list::on_thread_exit) == 0;
    if (l.key_made) (void)::pthread_atfork(&release_list::prepare, &release_list::parent, &release_list::child);
    return l.key_made;
  }();
  std::lock_guard lk(l.mutex);
  if (tls_release.listed) return;
  // The key's value is what unlinks the record at the thread's exit: a
  // record is linked only with it set. For a key created early (below
  // PTHREAD_KEY_2NDLEVEL_SIZE, 32 in glibc) the value lives in the thread's
  // descriptor and setting it never allocates or fails; otherwise a failure
  // (no memory) leaves this thread unlisted, and `listed` true so that its
  // releases do not retry under the mutex.
  if (made && ::pthread_setspecific(l.key, &tls_release) == 0) {
    l.link_locked(tls_release);
  } else {
    tls_release.listed = true;
  }
}

bool releasing(const void* pool) noexcept {
  release_list& l = release_list::get();
  std::lock_guard lk(l.mutex);
  for (const release_record* r = l.head; r != nullptr; r = r->next)
    if (r != &tls_release && r->pool.load(std::memory_order_acquire) == pool) return true;  // [M3]
  return false;
}

std::size_t listed_releasers() noexcept {
  release_list& l = release_list::get();
  std::lock_guard lk(l.mutex);
  std::size_t n = 0;
  for (const release_record* r = l.head; r != nullptr; r = r->next) ++n;
  return n;
}

}  // namespace berth::detail
