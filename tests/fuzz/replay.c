/*
 * replay.c - runs a fuzz target over its corpus once, without libFuzzer.
 *
 *   fuzz-replay-TARGET PATH...
 *
 * Each PATH is a file or a directory whose regular files (not those whose
 * name starts with '.') are read in name order.  Every input goes through
 * LLVMFuzzerTestOneInput once, from a buffer of exactly its size, so a
 * sanitizer sees any read past its end.  A target that finds a bug
 * aborts; replay prints the input it was on first, so the failing file
 * is named in the test log.  Exit status 0 after at least one input, 1 if
 * there was nothing to run or a path cannot be read.
 *
 * This is how the corpus in tests/fuzz/corpus is a regression test in
 * every build configuration (gcc, ASan+UBSan, TSan).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: weak, so a target without it links. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Largest input replayed: libFuzzer's -max_len for these targets is far less. */
#define REPLAY_MAX_INPUT (16u << 20)

static int run_file(const char *path, unsigned *count)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: cannot size it, or larger than %u bytes\n",
		        path, REPLAY_MAX_INPUT);
		fclose(f);
		return -1;
	}
	n = (size_t)st.st_size;
	/* Exactly n bytes (malloc(0) may be NULL: then one byte, unused). */
	buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "replay: %s: cannot read it\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Named before the run: if the target aborts, the log says on what. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	(*count)++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **v = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!v) {
				r = -1;
				break;
			}
			names = v;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (r == 0 && (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    run_file(path, count) < 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int failed = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			failed = 1;
		} else if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) < 0
		                               : run_file(argv[i], &count) < 0) {
			failed = 1;
		}
	}
	printf("replayed %u inputs\n", count);
	if (count == 0) {
		fprintf(stderr, "replay: no inputs: a replay that runs nothing is not a pass\n");
		return 1;
	}
	return failed;
}
