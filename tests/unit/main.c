/* The one Check runner: every suite in tests/unit registers through the
 * generated suites.h (see the Makefile), so adding a file adds its suite. */
#include <check.h>
#include <stdlib.h>

#define X(name) Suite *name##_suite(void);
#include "suites.h"
#undef X

int main(void)
{
	SRunner *sr = srunner_create(NULL);
#define X(name) srunner_add_suite(sr, name##_suite());
#include "suites.h"
#undef X
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
