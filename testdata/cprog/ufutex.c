// SPDX-License-Identifier: GPL-2.0
/*
 * ufutex: threads stuck behind glibc pthread mutexes, for the dump
 * generator's ufutex scenario (testdata/guests.go ScenarioUfutex). Built
 * static with the host's gcc and glibc (testdata/gen/cprog.go), started by
 * hangfs, which reads the thread ids it prints.
 *
 *   a, b      lock mutexes M1 and M2 in opposite orders (ABBA)
 *   c         waits for M1 (behind the ABBA)
 *   flockwait holds M3 and waits for a flock of FILE held by the child
 *   d         waits for M3 (behind the flock wait)
 *   cond      waits on a condition variable nobody signals (benign)
 *   sleeper   holds M4 and sleeps in nanosleep (benign)
 *   contend   waits for M4 (contention with a sleeping owner: not stuck)
 *
 * The child (flockholder) takes the flock first and pauses. When every
 * thread is where it should be the program prints one line
 *   ufutex pid=P flockholder=C a=T b=T c=T flockwait=T d=T cond=T sleeper=T contend=T
 * and the main thread pauses.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m1 = PTHREAD_MUTEX_INITIALIZER, m2 = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t m3 = PTHREAD_MUTEX_INITIALIZER, m4 = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t ab;
static const char *lockfile;

enum { A, B, C, FLOCKWAIT, D, COND, SLEEPER, CONTEND, N };
static const char *names[N] = {"a", "b", "c", "flockwait", "d", "cond", "sleeper", "contend"};
static volatile pid_t tids[N];

static void settle(void)
{
	struct timespec ts = {0, 200 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

static void *run(void *arg)
{
	long i = (long)arg;
	int fd;

	tids[i] = (pid_t)syscall(SYS_gettid);
	switch (i) {
	case A:
		pthread_mutex_lock(&m1);
		pthread_barrier_wait(&ab);
		pthread_mutex_lock(&m2);
		break;
	case B:
		pthread_mutex_lock(&m2);
		pthread_barrier_wait(&ab);
		pthread_mutex_lock(&m1);
		break;
	case C:
		settle(); /* after a and b hold theirs */
		pthread_mutex_lock(&m1);
		break;
	case FLOCKWAIT:
		pthread_mutex_lock(&m3);
		fd = open(lockfile, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) < 0) {
			perror("ufutex: flock");
			exit(1);
		}
		break;
	case D:
		settle();
		pthread_mutex_lock(&m3);
		break;
	case COND:
		pthread_mutex_lock(&cm);
		for (;;)
			pthread_cond_wait(&cv, &cm);
	case SLEEPER:
		pthread_mutex_lock(&m4);
		for (;;)
			sleep(3600);
	case CONTEND:
		settle();
		pthread_mutex_lock(&m4);
		break;
	}
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[N];
	pid_t child;
	int fd;
	long i;

	if (argc != 2) {
		fprintf(stderr, "usage: ufutex LOCKFILE\n");
		return 2;
	}
	lockfile = argv[1];
	fd = open(lockfile, O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		perror("ufutex: open");
		return 1;
	}
	child = fork();
	if (child == 0) {
		if (flock(fd, LOCK_EX) < 0) {
			perror("ufutex: child flock");
			_exit(1);
		}
		for (;;)
			pause();
	}
	close(fd);
	settle(); /* the child holds the flock */
	pthread_barrier_init(&ab, NULL, 2);
	for (i = 0; i < N; i++)
		if (pthread_create(&th[i], NULL, run, (void *)i) != 0) {
			fprintf(stderr, "ufutex: pthread_create failed\n");
			return 1;
		}
	settle();
	settle();
	printf("ufutex pid=%d flockholder=%d", getpid(), child);
	for (i = 0; i < N; i++)
		printf(" %s=%d", names[i], tids[i]);
	printf("\n");
	fflush(stdout);
	for (;;)
		pause();
}
