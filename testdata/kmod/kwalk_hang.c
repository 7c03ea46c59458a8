// SPDX-License-Identifier: GPL-2.0
/*
 * kwalk_hang: kernel threads that get stuck the ways kernel code does, for
 * the dump generator's kmod guest (testdata/guests.go ScenarioKmod). It is
 * built against the guest kernel's headers (testdata/gen/kmod.go) and
 * loaded by hangfs; each thread's name is its role's comm, which hangfs
 * finds in /proc. Nothing here can be unloaded or undone: the guest is
 * dumped with every thread stuck.
 *
 *   kwalk_abba_a, kwalk_abba_b  take mutexes A and B in opposite orders (ABBA)
 *   kwalk_stoppee               waits for mutex A (behind the ABBA)
 *   kwalk_stopper               kthread_stop(kwalk_stoppee)
 *   kwalk_holder                holds mutex C, rw_semaphore R (read),
 *                               rt_mutex T, ww_mutex W and semaphore S,
 *                               and sleeps (S) forever
 *   kwalk_rt_waiter             rt_mutex_lock(T)
 *   kwalk_rw_writer             down_write(R), reader-owned
 *   kwalk_io_waiter             mutex_lock_io(C)
 *   kwalk_ww_waiter             ww_mutex_lock(W) in an acquire context
 *   kwalk_sem_waiter            down(S)
 *   kwalk_flusher               flush_work of a work item on workqueue
 *                               kwalk_wq whose function waits for mutex C
 *   kwalk_canceller             cancel_work_sync of that running item
 *   kwalk_wq_flush              flush_workqueue(kwalk_wq)
 *   kwalk_kworker               a kthread_worker whose work waits for mutex C
 *   kwalk_kw_flush              kthread_flush_work of that running work
 *   kwalk_rcu_read              sleeps (S) inside rcu_read_lock()
 *   kwalk_rcu_sync              synchronize_rcu()
 *   kwalk_rcu_exp               synchronize_rcu_expedited()
 *   kwalk_srcu_read             sleeps (S) inside srcu_read_lock(kwalk_srcu)
 *   kwalk_srcu_sync             synchronize_srcu(kwalk_srcu)
 *
 * Loaded with spin=1 (the kdump-softlockup guest) it starts only
 *
 *   kwalk_spin                  spins with preemption disabled on the last
 *                               online CPU until the soft-lockup watchdog
 *                               fires (and, with softlockup_panic, panics)
 */
#include <linux/completion.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/rtmutex.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/semaphore.h>
#include <linux/srcu.h>
#include <linux/sched/task.h>
#include <linux/moduleparam.h>
#include <linux/preempt.h>
#include <linux/workqueue.h>
#include <linux/ww_mutex.h>

static DEFINE_MUTEX(kwalk_mutex_a);
static DEFINE_MUTEX(kwalk_mutex_b);
static DEFINE_MUTEX(kwalk_mutex_c);
static DECLARE_RWSEM(kwalk_rwsem);
static DEFINE_RT_MUTEX(kwalk_rtmutex);
static DEFINE_WW_CLASS(kwalk_ww_class);
static struct ww_mutex kwalk_ww;
DEFINE_STATIC_SRCU(kwalk_srcu);
static struct semaphore kwalk_sem; /* DEFINE_SEMAPHORE's arguments changed in 6.4 */

static DECLARE_COMPLETION(a_holds);
static DECLARE_COMPLETION(b_holds);
static DECLARE_COMPLETION(holder_holds);
static DECLARE_COMPLETION(reader_in);
static DECLARE_COMPLETION(stoppee_in);
static DECLARE_COMPLETION(work_running);
static DECLARE_COMPLETION(kwork_running);
static DECLARE_COMPLETION(srcu_reader_in);

static int spin;
module_param(spin, int, 0444);
MODULE_PARM_DESC(spin, "1: only a kernel thread that spins with preemption disabled");

static struct workqueue_struct *kwalk_wq;
static struct kthread_worker *kwalk_kworker;
static struct task_struct *stoppee;

/*
 * await: the waits that order the threads sleep in S, so that D is only
 * the wait the scenario stages (/proc/PID/stack hides the __sched
 * functions either waits in: only the thread function shows).
 */
static void await(struct completion *c)
{
	while (wait_for_completion_interruptible(c))
		;
}

/* sleep_forever: TASK_INTERRUPTIBLE in schedule(), never to return. */
static void sleep_forever(void)
{
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule();
	}
}

static int abba_a(void *arg)
{
	mutex_lock(&kwalk_mutex_a);
	complete_all(&a_holds);
	await(&b_holds);
	mutex_lock(&kwalk_mutex_b);
	return 0;
}

static int abba_b(void *arg)
{
	mutex_lock(&kwalk_mutex_b);
	complete_all(&b_holds);
	await(&a_holds);
	mutex_lock(&kwalk_mutex_a);
	return 0;
}

static int stoppee_fn(void *arg)
{
	await(&a_holds);
	complete_all(&stoppee_in);
	mutex_lock(&kwalk_mutex_a);
	return 0;
}

static int stopper_fn(void *arg)
{
	/*
	 * Not before it runs: kthread() would not call a thread function
	 * whose stop was asked first (kernel/kthread.c).
	 */
	await(&stoppee_in);
	kthread_stop(stoppee);
	return 0;
}

static int holder_fn(void *arg)
{
	struct ww_acquire_ctx ctx;

	mutex_lock(&kwalk_mutex_c);
	down_read(&kwalk_rwsem);
	rt_mutex_lock(&kwalk_rtmutex);
	ww_acquire_init(&ctx, &kwalk_ww_class);
	if (ww_mutex_lock(&kwalk_ww, &ctx))
		pr_err("kwalk_hang: kwalk_holder: ww_mutex_lock failed\n");
	ww_acquire_done(&ctx);
	down(&kwalk_sem);
	complete_all(&holder_holds);
	sleep_forever();
	return 0;
}

static int rt_waiter_fn(void *arg)
{
	await(&holder_holds);
	rt_mutex_lock(&kwalk_rtmutex);
	return 0;
}

static int rw_writer_fn(void *arg)
{
	await(&holder_holds);
	down_write(&kwalk_rwsem);
	return 0;
}

static int io_waiter_fn(void *arg)
{
	await(&holder_holds);
	mutex_lock_io(&kwalk_mutex_c);
	return 0;
}

/*
 * ww_waiter_fn: a younger context than the holder's, acquiring its first
 * lock: it waits (wound-wait wounds only a younger holder).
 */
static int ww_waiter_fn(void *arg)
{
	struct ww_acquire_ctx ctx;

	await(&holder_holds);
	ww_acquire_init(&ctx, &kwalk_ww_class);
	if (ww_mutex_lock(&kwalk_ww, &ctx))
		pr_err("kwalk_hang: kwalk_ww_waiter: ww_mutex_lock failed\n");
	return 0;
}

static int sem_waiter_fn(void *arg)
{
	await(&holder_holds);
	down(&kwalk_sem);
	return 0;
}

static void kwalk_work_fn(struct work_struct *work)
{
	complete_all(&work_running);
	mutex_lock(&kwalk_mutex_c);
	mutex_unlock(&kwalk_mutex_c);
}

static DECLARE_WORK(kwalk_work, kwalk_work_fn);

static int flusher_fn(void *arg)
{
	await(&holder_holds);
	queue_work(kwalk_wq, &kwalk_work);
	flush_work(&kwalk_work);
	return 0;
}

/* Both wait for the item to finish once it runs (it is not pending). */
static int canceller_fn(void *arg)
{
	await(&work_running);
	cancel_work_sync(&kwalk_work);
	return 0;
}

static int wq_flusher_fn(void *arg)
{
	await(&work_running);
	flush_workqueue(kwalk_wq);
	return 0;
}

static void kwalk_kwork_fn(struct kthread_work *work)
{
	complete_all(&kwork_running);
	mutex_lock(&kwalk_mutex_c);
	mutex_unlock(&kwalk_mutex_c);
}

static DEFINE_KTHREAD_WORK(kwalk_kwork, kwalk_kwork_fn);

static int kw_flusher_fn(void *arg)
{
	await(&holder_holds);
	kthread_queue_work(kwalk_kworker, &kwalk_kwork);
	await(&kwork_running);
	kthread_flush_work(&kwalk_kwork);
	return 0;
}

static int rcu_reader_fn(void *arg)
{
	rcu_read_lock();
	complete_all(&reader_in);
	sleep_forever();
	rcu_read_unlock();
	return 0;
}

static int rcu_sync_fn(void *arg)
{
	await(&reader_in);
	synchronize_rcu();
	return 0;
}

static int rcu_exp_fn(void *arg)
{
	await(&reader_in);
	synchronize_rcu_expedited();
	return 0;
}

static int srcu_reader_fn(void *arg)
{
	int idx = srcu_read_lock(&kwalk_srcu);

	complete_all(&srcu_reader_in);
	sleep_forever();
	srcu_read_unlock(&kwalk_srcu, idx);
	return 0;
}

static int srcu_sync_fn(void *arg)
{
	await(&srcu_reader_in);
	synchronize_srcu(&kwalk_srcu);
	return 0;
}

static int spin_fn(void *arg)
{
	preempt_disable();
	for (;;)
		cpu_relax();
	return 0;
}

static int start_spinner(void)
{
	struct task_struct *t = kthread_create(spin_fn, NULL, "kwalk_spin");

	if (IS_ERR(t))
		return PTR_ERR(t);
	kthread_bind(t, num_online_cpus() - 1);
	wake_up_process(t);
	pr_info("kwalk_hang: kwalk_spin spins on CPU %u\n", num_online_cpus() - 1);
	return 0;
}

static struct task_struct *start(int (*fn)(void *), const char *name)
{
	struct task_struct *t = kthread_run(fn, NULL, "%s", name);

	if (IS_ERR(t))
		pr_err("kwalk_hang: %s: %ld\n", name, PTR_ERR(t));
	return t;
}

static int __init kwalk_hang_init(void)
{
	if (spin)
		return start_spinner();
	kwalk_wq = alloc_workqueue("kwalk_wq", 0, 0);
	if (!kwalk_wq)
		return -ENOMEM;
	ww_mutex_init(&kwalk_ww, &kwalk_ww_class);
	sema_init(&kwalk_sem, 1);
	kwalk_kworker = kthread_create_worker(0, "kwalk_kworker");
	if (IS_ERR(kwalk_kworker))
		return PTR_ERR(kwalk_kworker);
	/* Newer kernels leave the worker asleep (kthread_run_worker wakes it). */
	wake_up_process(kwalk_kworker->task);
	start(abba_a, "kwalk_abba_a");
	start(abba_b, "kwalk_abba_b");
	stoppee = kthread_create(stoppee_fn, NULL, "kwalk_stoppee");
	if (IS_ERR(stoppee))
		return PTR_ERR(stoppee);
	get_task_struct(stoppee); /* for kthread_stop */
	wake_up_process(stoppee);
	start(stopper_fn, "kwalk_stopper");
	start(holder_fn, "kwalk_holder");
	start(rt_waiter_fn, "kwalk_rt_waiter");
	start(rw_writer_fn, "kwalk_rw_writer");
	start(io_waiter_fn, "kwalk_io_waiter");
	start(ww_waiter_fn, "kwalk_ww_waiter");
	start(sem_waiter_fn, "kwalk_sem_waiter");
	start(flusher_fn, "kwalk_flusher");
	start(canceller_fn, "kwalk_canceller");
	start(wq_flusher_fn, "kwalk_wq_flush");
	start(kw_flusher_fn, "kwalk_kw_flush");
	start(rcu_reader_fn, "kwalk_rcu_read");
	start(rcu_sync_fn, "kwalk_rcu_sync");
	start(rcu_exp_fn, "kwalk_rcu_exp");
	start(srcu_reader_fn, "kwalk_srcu_read");
	start(srcu_sync_fn, "kwalk_srcu_sync");
	pr_info("kwalk_hang: threads started\n");
	return 0;
}

module_init(kwalk_hang_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kwalk dump generator: kernel threads stuck on purpose");
