/* handoff.pml: a Promela model of berth's slot word, idle ring and the
 * release/wait hand-off protocol, checked with spin by verify/spin/check.sh
 * (README.md beside it: what is modelled, what is abstracted, results).
 *
 * Models, and must be kept in step with (each inline below names the
 * function it models and carries the code's protocol tags):
 *   core/include/berth/detail/slot_state.hpp   slot_atomic: try_lease,
 *       lease_from_ring, publish_idle, transition, try_reserve [W1]-[W3]
 *   core/include/berth/detail/idle_ring.hpp    basic_idle_ring: try_push,
 *       try_pop [Q1]-[Q3]
 *   core/include/berth/detail/waiter_queue.hpp, core/src/waiter_queue.cpp
 *       the gate word, must_queue, must_hand, register_locked,
 *       enqueue_locked, after_wake_locked, starving_locked, served_locked,
 *       owe_head_locked, leave_locked, hand_locked, settle_locked
 *       (pour_locked), give_locked, unlink_locked, wake_head [G1]-[G6]
 *   core/include/berth/detail/pool_core.hpp, core/src/pool_core.cpp
 *       try_claim, claim_idle, pop_idle, push_idle, release, publish,
 *       after_publish, offer_contended, hand_to_waiter_locked, claim_slow,
 *       wait_for_slot, create_one, publish_reserved
 * With -DPRE_FIX it models instead the protocol of commit 9b69ded, before
 * bc75174 ("core: settle protocol") fixed the lost wake-up at the switch
 * from throughput to strict hand-off: no settle; a lone waiter always
 * strict; releasers test must_queue(); a woken head pops only when the pool
 * is not strict; a strict after_publish takes its slot back (try_lease) and
 * hands it over. spin must find that lost wake-up (check.sh insists).
 *
 * Memory model. spin interleaves whole steps: sequential consistency. Every
 * atomic access modelled here is seq_cst in the code ([W1], [Q1]-[Q3], [G2],
 * [G3], every gate read-modify-write), and what the mutex guards is touched
 * only under it, so the executions are those of one total order S of the
 * seq_cst operations: what spin enumerates. One seq_cst operation is one
 * step. Reductions that remove no behaviour (Lipton: a lock acquisition is a
 * right mover, a release a left mover, an access to mutex-guarded or
 * thread-local data a both-mover): such accesses are folded into the step of
 * an adjacent seq_cst operation of the same thread, a lock into the step
 * after it, an unlock into the step before it; no step holds two seq_cst
 * operations. Relaxed accesses in the modelled code:
 *   [G1] the fast path's relaxed gate load: read as in S by default; with
 *        -DG1_ANY it may return anything (barge or go slow regardless), a
 *        sound over-approximation of every stale value.
 *   [W2]/[W3] relaxed loads and guesses only seed a CAS loop; the loop is
 *        one read-modify-write step, as its successful CAS is.
 *   gate bits read relaxed under the mutex (handoff): written only under
 *        the mutex, so the holder reads the latest value: exact.
 *   after_publish's courtesy yield (relaxed loads): omitted, a yield
 *        changes no state.
 *   -DPRE_FIX only: ring_.size_approx() (two relaxed loads) is read as the
 *        exact size in one step.
 * The ring is modelled cell by cell (free, writing, ready, reading), so a
 * pop that finds its cell claimed but not yet published reports empty even
 * when a later push has completed (Vyukov's queue is not linearizable
 * there), and a push waits while a preempted popper still holds the cell
 * one lap ahead (push_idle's yield loop, the ring's "blocking corner").
 *
 * Not modelled: close()/drain() (the closed bit), suspend()/resume() [G7],
 * the evict/expired/stale/resized flags, retire() and validation, the front
 * re-enqueue of a waiter whose connection failed its check, the circuit
 * breaker (withdraw_locked, reject_all_locked), asynchronous waiters
 * (async.cpp), try_acquire (its fast path is the blocking acquire's).
 *
 * Configuration (-D on the spin command line; check.sh runs a matrix):
 *   NT          acquiring threads (2 or 3); thread 0 starts holding slot 0
 *   NS          slots (1 or 2); ring capacity 2 * NS as in pool_core
 *   ACQ0..ACQ2  acquires of threads 0..2 (thread 0 first releases slot 0);
 *               a thread releases each lease it gets at once
 *   HANDOFF     0: handoff_after == 0 (always strict); 1: handoff_after > 0
 *               and a waiter may have waited that long at any check (a
 *               nondeterministic, monotone event per acquire); 2: > 0 and
 *               never reached
 *   TO_MASK     threads whose acquires have a deadline (bit t): it may pass
 *               at any moment, waking the thread if asleep
 *   SPURIOUS    spurious wake-ups allowed in all (condition variables)
 *   CREATOR     the last slot starts empty; a creator opens it once
 *               (create_one: hand it to the head waiter, or publish it)
 *   REAPER      a reaper reserves each idle slot once and publishes it back
 *               (try_reserve, publish_reserved)
 *
 * Properties (assertions; check.sh compiles pan with -DSAFETY):
 *   no double hand-out  an acquire obtains a leased slot that nobody holds
 *                       (holders[s] 0 -> 1); a release starts from 1.
 *   ring                an index is in the ring at most once (ringcnt).
 *   no lost wake-up     once nothing can move (spin's timeout): no waiter
 *                       asleep while a slot is idle (lost_wakeup), and no
 *                       thread stuck at all (stuck). A thread with a
 *                       deadline never sleeps forever, so a lost wake-up is
 *                       one of a thread without one, as in the issue.
 *   no leaked slot      then too: every slot idle, in_ring set, in the ring
 *                       exactly once, held by nobody (leaked_slot); the gate
 *                       0, the queue empty, no hand-off in flight
 *                       (gate_not_clear).
 */

#ifndef NT
#define NT 3
#endif
#ifndef NS
#define NS 1
#endif
#ifndef ACQ0
#define ACQ0 1
#endif
#ifndef ACQ1
#define ACQ1 1
#endif
#ifndef ACQ2
#define ACQ2 1
#endif
#ifndef HANDOFF
#define HANDOFF 1
#endif
#ifndef TO_MASK
#define TO_MASK 0
#endif
#ifndef SPURIOUS
#define SPURIOUS 0
#endif
#ifndef CREATOR
#define CREATOR 0
#endif
#ifndef REAPER
#define REAPER 0
#endif

#define CAP (2 * NS)
#define NONE 255
#define ACQ_OF(t) ((t) == 0 -> ACQ0 : ((t) == 1 -> ACQ1 : ACQ2))
#define TO(t) (((TO_MASK) >> (t)) & 1)
#define WORKERS (NT + CREATOR + REAPER)

/* slot_state (slot_state.hpp) */
#define EMPTY 0
#define CONNECTING 1
#define IDLE 2
#define LEASED 3
#define RESERVED 4
#define CLOSING 5

/* a ring cell, by its seq against the position p that maps to it:
 * seq == p (free), claimed by a pusher that has not stored p + 1 yet
 * (writing), seq == p + 1 (ready), claimed by a popper that has not stored
 * p + capacity yet (reading) */
#define C_FREE 0
#define C_WRITING 1
#define C_READY 2
#define C_READING 3

/* ---- shared state ---------------------------------------------------- */
/* slot words: the state and the in_ring flag */
byte st[NS];
bit in_ring[NS];
/* the idle ring; positions modulo CAP (README: why that is exact) */
byte cell[CAP];
byte val[CAP];
byte epos;
byte dpos;
/* the gate word: waiters | handoff | woken (closed, suspended: not modelled) */
byte gw;
bit gh;
bit gk;
/* pool_core::mutex_ (0: free, else holder id + 1) and what it guards */
byte mtx;
byte q[NT];          /* waiter_queue's FIFO, head q[0] */
byte qlen;
byte wslot[NT];      /* waiter::slot, set by a hand-off [G4] */
byte in_flight;      /* waiter_queue::in_flight_ */
bit elapsed[NT];     /* waited handoff_after since its acquire began (read
                        and set under the mutex; reset by its thread) */
/* each blocking_waiter's condition variable */
bit asleep[NT];      /* in cv.wait(); cleared by wake() (notify_one) */
byte spurious_left = SPURIOUS;
/* ghosts */
byte holders[NS];    /* threads holding slot s as a lease */
byte ringcnt[NS];    /* times index s is in the ring */
byte finished;       /* workers done */

/* thread-local temporaries, shared by the inlines */
#define LOCALS \
  byte v, rpos, wpos, hd, si, x2; \
  bit was_head, won, bef, handed, mayp, okl, nz, mh, lh, expired, spd
/* dead temporaries back to 0: states differ only in what matters */
#define CLEAR_LOCALS \
  d_step { v = 0; rpos = 0; wpos = 0; hd = 0; si = 0; x2 = 0; was_head = 0; won = 0; \
           bef = 0; handed = 0; mayp = 0; okl = 0; nz = 0; mh = 0; lh = 0; expired = 0; spd = 0 }

/* the gate word as the code tests it, on one seq_cst load */
#define GATE_NZ (gw != 0 || gh || gk)
#ifdef PRE_FIX
#define STRICT_W (HANDOFF == 0 -> 255 : 1)
/* 9b69ded pool_core::must_queue, for acquirers and releasers alike */
#define MUST_QUEUE (gw != 0 && (gh || gw <= STRICT_W))
#define MUST_HAND MUST_QUEUE
#else
/* waiter_queue::must_queue, must_hand (closed, suspended: not modelled) */
#define MUST_QUEUE (gw != 0 && HANDOFF == 0)
#define MUST_HAND (gw != 0 && (gh || HANDOFF == 0))
#endif

/* ---- the mutex ------------------------------------------------------ */
inline lock() { atomic { mtx == 0 -> mtx = me + 1 } }
inline unlock() { atomic { assert(mtx == me + 1); mtx = 0 } }

/* ---- idle_ring.hpp -------------------------------------------------- */
/* pool_core::push_idle -> basic_idle_ring::try_push: claim the position
 * ([Q2] load, [Q3] CAS; while the cell one lap ahead is still held the push
 * fails and push_idle yields: here, it blocks), then publish the value
 * ([Q1]). */
inline push_idle(x) {
  atomic {
    cell[epos] == C_FREE ->
    assert(ringcnt[x] == 0);
    ringcnt[x]++;
    cell[epos] = C_WRITING; wpos = epos; epos = (epos + 1) % CAP
  }
  atomic { val[wpos] = x; cell[wpos] = C_READY; wpos = 0; printf("EV push T=%d slot=%d\n", me, x) }
}

/* basic_idle_ring::try_pop's claim ([Q2] load, [Q3] CAS): v = the value or
 * NONE (empty, or the cell's push is not published yet) */
inline RING_CLAIM() {
  if
  :: cell[dpos] == C_READY ->
     v = val[dpos]; cell[dpos] = C_READING; rpos = dpos; dpos = (dpos + 1) % CAP;
     ringcnt[v]--; printf("EV ring-pop T=%d slot=%d\n", me, v)
  :: else -> v = NONE; printf("EV ring-empty T=%d\n", me)
  fi
}
/* then try_pop's [Q1] store frees the cell */
inline RING_FREE() { atomic { cell[rpos] = C_FREE; rpos = 0 } }
/* slot_atomic::lease_from_ring [W1] on the popped index v: idle -> leased
 * clearing in_ring, else only clear in_ring. out = v or NONE. */
inline LEASE_FROM_RING(out) {
  if
  :: st[v] == IDLE -> st[v] = LEASED; in_ring[v] = 0; out = v; printf("EV ring-lease T=%d slot=%d\n", me, v)
  :: else -> in_ring[v] = 0; out = NONE; printf("EV ring-skip T=%d slot=%d\n", me, v)
  fi;
  v = 0
}

/* pool_core::pop_idle: pop until an index leases or the ring is empty */
inline pop_idle(out) {
  do
  :: atomic { RING_CLAIM() }
     if
     :: v == NONE -> v = 0; out = NONE; break
     :: else
     fi;
     RING_FREE();
     atomic { LEASE_FROM_RING(out) }
     if
     :: out != NONE -> break
     :: else
     fi
  od
}

/* ---- waiter_queue (mutex held) -------------------------------------- */
/* thread t has waited handoff_after (nondeterministic, monotone) */
inline elapse(t) {
  if
  :: HANDOFF == 1 && !elapsed[t] -> elapsed[t] = 1
  :: true
  fi
}

/* waiter_queue::unlink_locked (9b69ded: pool_core::unlink_locked and
 * head_changed_locked): unlink, [G2] fetch_sub; if it was the head, [G5]
 * clear woken (and handoff when nobody is left). */
inline unlink(t) {
  atomic {
    was_head = (q[0] == t);
    x2 = 0;
    do
    :: q[x2] == t -> break
    :: else -> x2++
    od;
    do
    :: x2 + 1 < qlen -> q[x2] = q[x2 + 1]; x2++
    :: else -> break
    od;
    qlen--; q[qlen] = 0; x2 = 0;
    gw--;
    printf("EV unlink T=%d W=%d\n", me, t)
  }
  if
  :: was_head ->
     atomic { gk = 0; if :: qlen == 0 -> gh = 0 :: else fi };
#ifdef PRE_FIX
     /* wake the new head if connections are already idle (size_approx) */
     atomic {
       if
       :: qlen > 0 && epos != dpos -> asleep[q[0]] = 0
       :: else
       fi
     }
#endif
     skip
  :: else
  fi;
  was_head = 0
}

/* [G5] the CAS loop of wake_head: set woken if someone waits and it was
 * clear; won: this thread wakes the head */
inline wake_head() {
  atomic {
    if
    :: gw != 0 && !gk -> gk = 1; won = 1
    :: else -> won = 0
    fi
  }
  if
  :: won ->
     /* lock; notify the head or clear woken (it left meanwhile); unlock */
     atomic {
       mtx == 0 -> mtx = me + 1;
       if
       :: qlen > 0 -> asleep[q[0]] = 0; printf("EV wake-head T=%d W=%d\n", me, q[0])
       :: else -> gk = 0
       fi;
       mtx = 0; won = 0
     }
  :: else
  fi
}

#ifndef PRE_FIX
/* waiter_queue::give_locked(*head_, i): in_flight, one hand-off per mark
 * (clears handoff), unlink, w.slot = i [G4], wake(). hd: the head. */
inline give(x) {
  atomic { hd = q[0]; in_flight++; if :: gh -> gh = 0 :: else fi }
  unlink(hd);
  atomic { wslot[hd] = x; asleep[hd] = 0; printf("EV give T=%d slot=%d to=%d\n", me, x, hd); hd = 0 }
}

/* waiter_queue::settle_locked / pour_locked [G6]: while someone waits, pop
 * (pool_core::pop_idle) and give to the head, until the ring is empty. */
inline settle() {
  do
  :: atomic {
       if
       :: qlen == 0 -> v = NONE
       :: else -> printf("EV settle T=%d\n", me); RING_CLAIM()
       fi
     }
     if
     :: v == NONE -> v = 0; break
     :: else
     fi;
     RING_FREE();
     atomic { LEASE_FROM_RING(si) }
     if
     :: si != NONE -> give(si)
     :: else /* not idle: pop_idle pops on (the queue has not changed) */
     fi
  od;
  si = 0
}

/* waiter_queue::owe_head_locked(waited of thread t): past handoff_after,
 * no hand-off in flight, bit clear: set handoff [G6], settle. */
inline owe_head(t) {
  atomic {
    elapse(t);
    if
    :: HANDOFF != 0 && elapsed[t] && in_flight == 0 && !gh ->
       gh = 1; okl = 1; printf("EV turn-strict T=%d\n", me)
    :: else -> okl = 0
    fi
  }
  if
  :: okl -> okl = 0; settle()
  :: else
  fi
}

/* pool_core::after_publish(i, g, spared), g's must_hand in mh (closed,
 * suspended: not modelled); spd: a fresh tenure spared by offer_contended
 * (the courtesy yield: not modelled, a scheduling hint) */
inline after_publish(x) {
  if
  :: !mh || spd -> wake_head()   /* throughput, or spared: the head competes [G5] */
  :: else -> lock(); settle(); unlock()   /* strict */
  fi
}

/* pool_core::hand_to_waiter_locked(i, from) + waiter_queue::hand_locked
 * (the retire-flag and suspended checks: not modelled) */
inline hand_to_waiter(x, from) {
  if
  :: atomic { qlen > 0 -> handed = 1 }
     if
     :: from != LEASED -> atomic { assert(st[x] == from); st[x] = LEASED }
     :: else
     fi;
     give(x); settle()
  :: else -> handed = 0
  fi
}

#else /* PRE_FIX: 9b69ded */

/* 9b69ded pool_core::hand_to_waiter_locked: unlink the head, w->slot = i,
 * notify; no settle */
inline hand_to_waiter(x, from) {
  if
  :: atomic { qlen > 0 -> handed = 1 }
     if
     :: from != LEASED -> atomic { assert(st[x] == from); st[x] = LEASED }
     :: else
     fi;
     atomic { hd = q[0] }
     unlink(hd);
     atomic { wslot[hd] = x; asleep[hd] = 0; printf("EV give T=%d slot=%d to=%d\n", me, x, hd); hd = 0 }
  :: else -> handed = 0
  fi
}

/* 9b69ded pool_core::after_publish: strict: take the slot back (try_lease)
 * and hand it to the head */
inline after_publish(x) {
  if
  :: !mh -> wake_head()
  :: else ->
     lock();
     if
     :: atomic { qlen == 0 -> mtx = 0 }
     :: else ->
        atomic { if :: st[x] == IDLE -> st[x] = LEASED; okl = 1 :: else -> okl = 0 fi };
        if
        :: okl -> okl = 0; hand_to_waiter(x, LEASED); assert(handed) /* false only on evict: not modelled */
        :: else
        fi;
        unlock()
     fi
  fi
}
#endif

/* ---- pool_core fast path -------------------------------------------- */
/* pool_core::publish(i, from): publish_idle [W1] (the retire flags: not
 * modelled), push iff in_ring was clear, [G3] seq_cst gate load, and
 * after_publish if the gate is not 0. The inline release's pin of the gate
 * line (gate_line.hpp, after_publish_pinned) loads the gate once more
 * before after_publish: the same as this load taken later, which the
 * model's interleavings include. */
inline publish(x, from) {
  atomic {
    assert(st[x] == from); bef = in_ring[x]; st[x] = IDLE; in_ring[x] = 1;
    printf("EV publish T=%d slot=%d\n", me, x)
  }
  if
  :: !bef -> push_idle(x)
  :: else
  fi;
  atomic { nz = GATE_NZ; mh = MUST_HAND }
  if
  :: nz -> after_publish(x)
  :: else
  fi
}

/* pool_core::offer_contended(i, from) (the closed check: not modelled).
 * Whether the holder's tenure is fresh (fresh_tenure: younger than
 * handoff_after) is a clock reading: nondeterministic here, never in strict
 * mode, nor before the fix. */
#ifdef PRE_FIX
#define CAN_SPARE 0
#else
#define CAN_SPARE HANDOFF
#endif
inline offer_contended(x, from) {
  lock();
  if
  :: CAN_SPARE && qlen > 1 -> spd = 1; handed = 0   /* spared (two or more wait): publish as in throughput mode */
  :: true -> hand_to_waiter(x, from)
  fi;
  unlock();
  if
  :: !handed -> publish(x, from)
  :: else
  fi
}

/* pool_core::release(i, normal): [G3] gate load, hand or publish (the hint
 * is written by the acquire that claimed the slot, not here) */
inline release(x) {
  atomic {
    assert(st[x] == LEASED && holders[x] == 1); holders[x]--;
    mayp = GATE_NZ && MUST_HAND
  }
  if
  :: mayp -> offer_contended(x, LEASED)
  :: else -> publish(x, LEASED)
  fi
}

/* the acquire's result: a leased slot that nobody else holds (no double
 * hand-out) */
inline took(x) {
  atomic { assert(st[x] == LEASED); assert(holders[x] == 0); holders[x]++; printf("EV took T=%d slot=%d\n", me, x) }
}

/* clock_.wait_until(w.cv, lk, deadline): release the mutex and sleep until
 * notified (then relock: seeing the notification is a both-mover, so it
 * shares the lock's step), the deadline, or a spurious wake-up. */
inline sleep() {
  atomic { assert(mtx == me + 1); asleep[me] = 1; mtx = 0; printf("EV sleep T=%d\n", me) }
  if
  :: atomic { !asleep[me] && mtx == 0 -> mtx = me + 1 }
  :: atomic { asleep[me] && TO(me) -> asleep[me] = 0; expired = 1 }; lock()
  :: atomic { asleep[me] && spurious_left > 0 -> asleep[me] = 0; spurious_left-- }; lock()
  fi
}

/* the deadline may pass while the thread runs (claim_slow's clock reads) */
inline deadline() {
  if
  :: TO(me) && !expired -> expired = 1
  :: true
  fi
}

#ifndef PRE_FIX
/* pool_core::wait_for_slot (claim_slow's wait): out = slot or NONE
 * (deadline). Closed, breaker and front re-enqueue: not modelled. */
inline wait_for_slot(out) {
  /* lock, then waiter_queue::register_locked [G2]: register, pop */
  atomic { mtx == 0 -> mtx = me + 1; gw++ }
  pop_idle(out);
  if
  :: out != NONE -> gw--; settle(); unlock()   /* [G6] the count changed */
  :: else ->
     /* waiter_queue::enqueue_locked(w, false): link at the back, settle */
     atomic { q[qlen] = me; qlen++ }
     settle();
     do
     :: atomic {
          wslot[me] != NONE ->
          /* [G4] handed over: waiter_queue::served_locked */
          out = wslot[me]; wslot[me] = NONE;
          if
          :: in_flight > 0 -> in_flight--
          :: else
          fi;
          if
          :: qlen == 0 -> gh = 0; x2 = NONE   /* nobody left to owe */
          :: else -> x2 = q[0]
          fi
        }
        if
        :: x2 != NONE -> owe_head(x2)   /* the next head's turn */
        :: else
        fi;
        unlock();
        break
     :: else ->
        deadline();
        if
        :: expired ->
           /* waiter_queue::leave_locked: unlink, settle */
           atomic { printf("EV leave T=%d\n", me) }
           unlink(me); settle(); unlock();
           break
        :: else ->
           sleep();
           if
           :: atomic { wslot[me] != NONE }
           :: else ->
              /* waiter_queue::after_wake_locked: the head clears woken
               * [G5]; the head pops in either mode, others only when
               * newcomers need not queue */
              atomic {
                was_head = (qlen > 0 && q[0] == me);
                if
                :: was_head -> gk = 0
                :: else
                fi
              }
              if
              :: was_head -> mayp = 1
              :: else -> atomic { mayp = !MUST_QUEUE }
              fi;
              if
              :: mayp -> pop_idle(out)
              :: else
              fi;
              if
              :: out != NONE -> unlink(me); settle(); unlock(); break
              :: else ->
                 atomic { printf("EV pop-empty T=%d head=%d\n", me, was_head); was_head = 0; mayp = 0 }
                 owe_head(me)   /* waiter_queue::starving_locked */
              fi
           fi
        fi
     od
  fi
}

#else /* PRE_FIX: 9b69ded pool_core::wait_for_slot */
inline wait_for_slot(out) {
  atomic { mtx == 0 -> mtx = me + 1; gw++ }   /* [G2] register, then look again */
  pop_idle(out);
  if
  :: out != NONE -> gw--; unlock()
  :: else ->
     atomic { q[qlen] = me; qlen++ }
     do
     :: atomic {
          wslot[me] != NONE ->
          out = wslot[me]; wslot[me] = NONE;
          /* strict hand-off ends once a waiter is served quickly or none is left */
          elapse(me);
          okl = (qlen == 0 || (HANDOFF != 0 && !elapsed[me]))
        }
        if
        :: okl -> gh = 0
        :: else
        fi;
        unlock();
        break
     :: else ->
        deadline();
        if
        :: expired ->
           atomic { printf("EV leave T=%d\n", me) }
           unlink(me); unlock();
           break
        :: else ->
           sleep();
           if
           :: atomic { wslot[me] != NONE }
           :: else ->
              atomic {
                was_head = (qlen > 0 && q[0] == me);
                if
                :: was_head -> gk = 0   /* [G5] the head ran */
                :: else
                fi
              }
              atomic { mayp = !MUST_QUEUE; lh = gh }
              if
              :: mayp ->   /* saturated: compete like a newcomer */
                 pop_idle(out);
                 if
                 :: out == NONE -> printf("EV pop-empty T=%d head=%d\n", me, was_head)
                 :: else
                 fi
              :: else -> printf("EV no-pop-strict T=%d head=%d\n", me, was_head)
              fi;
              if
              :: out != NONE -> unlink(me); unlock(); break
              :: else ->
                 /* starving: strict from now on */
                 atomic { elapse(me); okl = (HANDOFF != 0 && !lh && elapsed[me]) }
                 if
                 :: okl -> gh = 1; printf("EV turn-strict T=%d\n", me)
                 :: else
                 fi;
                 d_step { okl = 0; lh = 0; mayp = 0; was_head = 0 }
              fi
           fi
        fi
     od
  fi
}
#endif

/* pool_core::try_claim (the attention flags: not modelled), then
 * claim_slow's wait: out = the slot, or NONE after the deadline */
inline acquire(out) {
  out = NONE;
  elapsed[me] = 0;
  /* [G1] the fast path's gate test (relaxed) */
#ifdef G1_ANY
  if
  :: mayp = 1
  :: mayp = 0
  fi;
#else
  atomic { mayp = !(GATE_NZ && MUST_QUEUE) }
#endif
  if
  :: mayp ->
     mayp = 0;
     /* claim_idle: the thread's hint (slot_atomic::try_lease [W1][W3]),
      * then the ring (pop_idle), whose slot becomes the hint */
     if
     :: hint != NONE ->
        atomic {
          if
          :: st[hint] == IDLE -> st[hint] = LEASED; out = hint; printf("EV hint-lease T=%d slot=%d\n", me, hint)
          :: else
          fi
        }
     :: else
     fi;
     if
     :: out == NONE ->
        pop_idle(out);
        if
        :: out != NONE -> hint = out
        :: else
        fi
     :: else
     fi
  :: else
  fi;
  if
  :: out == NONE ->
     wait_for_slot(out);
     if
     :: out != NONE -> hint = out  /* claim_slow remembers it too */
     :: else
     fi
  :: else
  fi;
  if
  :: out != NONE -> took(out)
  :: else -> atomic { printf("EV timed-out T=%d\n", me) }
  fi
}

proctype thread(byte me) {
  LOCALS;
  byte hint = NONE;
  byte cur = NONE;
  byte n = 0;
  if
  :: me == 0 -> cur = 0
  :: else
  fi;
  do
  :: cur != NONE -> release(cur); cur = NONE; CLEAR_LOCALS
  :: cur == NONE && n < ACQ_OF(me) -> n++; acquire(cur); CLEAR_LOCALS
  :: cur == NONE && n >= ACQ_OF(me) -> break
  od;
  finished++
}

#if CREATOR
/* pool_core::create_one for the last slot, once: claim the empty slot
 * (try_begin_connect), connect outside the mutex, then under it hand the
 * connection to the head waiter or else publish it. When the creator runs
 * (creation_wanted_locked, backoff, breaker): not modelled, any time. */
proctype creator() {
  byte me = NT;
  LOCALS;
  atomic { st[NS - 1] == EMPTY -> st[NS - 1] = CONNECTING }
  lock();
  hand_to_waiter(NS - 1, CONNECTING);
  unlock();
  if
  :: !handed -> publish(NS - 1, CONNECTING)
  :: else
  fi;
  finished++
}
#endif

#if REAPER
/* the reaper's pass, once: try_reserve each slot, then publish_reserved
 * (publish from reserved: pool_core::publish_reserved). Validation,
 * retire: not modelled. */
proctype reaper() {
  byte me = NT + 1;
  LOCALS;
  byte r = 0;
  do
  :: r < NS ->
     atomic { if :: st[r] == IDLE -> st[r] = RESERVED; okl = 1 :: else -> okl = 0 fi };
     if
     :: okl -> okl = 0; publish(r, RESERVED); CLEAR_LOCALS
     :: else
     fi;
     r++
  :: else -> break
  od;
  finished++
}
#endif

/* The end: once nothing can move (timeout), no lost wake-up, no leak. */
active proctype monitor() {
  byte s, t;
  bit lost_wakeup, stuck, leaked_slot, gate_not_clear;
  timeout;
  d_step {
    lost_wakeup = 0;
    t = 0;
    do
    :: t < NT ->
       s = 0;
       do
       :: s < NS -> if :: asleep[t] && st[s] == IDLE -> lost_wakeup = 1 :: else fi; s++
       :: else -> break
       od;
       t++
    :: else -> break
    od;
    stuck = (finished != WORKERS);
    leaked_slot = 0;
    s = 0;
    do
    :: s < NS ->
       if
       :: st[s] != IDLE || !in_ring[s] || ringcnt[s] != 1 || holders[s] != 0 -> leaked_slot = 1
       :: else
       fi;
       s++
    :: else -> break
    od;
    gate_not_clear = (gw != 0 || gh || gk || qlen != 0 || in_flight != 0)
  }
  assert(!lost_wakeup);
  assert(!stuck);
  assert(!leaked_slot);
  assert(!gate_not_clear)
}

init {
  byte s = 0;
  atomic {
    /* slot 0 leased by thread 0 (not in the ring); the others idle in the
     * ring, as after start() opened them; with CREATOR the last is empty */
    st[0] = LEASED; holders[0] = 1;
    s = 1;
    do
    :: s < NS ->
       if
       :: CREATOR && s == NS - 1 -> st[s] = EMPTY
       :: else ->
          st[s] = IDLE; in_ring[s] = 1; ringcnt[s] = 1;
          val[epos] = s; cell[epos] = C_READY; epos = (epos + 1) % CAP
       fi;
       s++
    :: else -> break
    od;
    s = 0;
    do
    :: s < NT -> wslot[s] = NONE; s++
    :: else -> break
    od;
    s = 0;
    do
    :: s < NT -> run thread(s); s++
    :: else -> break
    od;
#if CREATOR
    run creator();
#endif
#if REAPER
    run reaper();
#endif
    s = 0
  }
}
