/*
 * Comparing two runs of kf_eos_state_complete on the inspection connection
 * (eos_fixture.h): which completion script ran, the state each left, and
 * the commands each ran inside Redis. The fast-path suites run the same
 * input under two key prefixes, once with the generic script forced and
 * once letting complete() choose, and require the same results.
 */
#ifndef KF_TEST_EOS_COMPARE_H
#define KF_TEST_EOS_COMPARE_H

/* Which scripts ran (scripts_ran). */
enum { RAN_UNIFORM = 1, RAN_COMPLETE = 2, RAN_OTHER = 4 };

/* Has the slow log keep every command (and empties it) until the test
 * ends: the fixture restores the defaults. */
void slowlog_on(void);

/* The scripts run (RAN_* bits, from the EVALSHAs' SHA1s in the slow log)
 * since slowlog_on() or the last scripts_ran(). */
int scripts_ran(void);

/* Every key under prefix P (the sink's keys "P:*" and the state "{P:*"),
 * the prefix cut off, with its type and content, in key order: two runs
 * that did the same thing under two prefixes dump the same string. The
 * caller frees it. */
char *dump_state(const char *P);

/* Asserts two dumps are equal, naming the first line that differs; `what`
 * names the case. */
void assert_same_state(const char *generic, const char *uniform, const char *what);

/* The calls and failed calls of every command since CONFIG RESETSTAT, as
 * "cmd=calls/failed ..." (no times). The caller frees it. */
char *call_counts(void);

#endif
