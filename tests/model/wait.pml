/*
 * wait.pml - the wake protocol of libbus/wait.h, for the spin model checker.
 *
 * N producers each send K messages through a ring of Q records to one
 * consumer.  Both wait words are modelled as in the code:
 *   cons_wait - the consumer sleeps on it when the record at its cursor is
 *               not committed; producers signal it after each commit.
 *   full_wait - producers sleep on it when the ring is full; the consumer
 *               signals it (waking all) after each release.
 * A wait word is a counter whose low bit announces a sleeper.  A waiter
 * announces (fetch_or), re-checks its condition, then futex-waits on the
 * announced value; a signaller, after making the condition true, loads
 * the word and, if the bit is set, CASes it to (v + 2) & ~1 and wakes.
 * Promela's interleaving is sequentially consistent, as the seq_cst
 * operations of the handshake are in C11.  Records are committed in any
 * order but read in claim order, as the ring does.
 *
 * spin checks that every process ends (no lost wakeup leaves a process
 * asleep forever: an "invalid end state") and that the consumer received
 * every message once.  With -DBROKEN the consumer skips its re-check; the
 * checker must then find the lost wakeup, which shows the model can fail.
 */
#ifndef N
#define N 2
#endif
#ifndef K
#define K 2
#endif
#ifndef Q
#define Q 1
#endif
#define TOTAL (N * K)

byte used;              /* claimed and not released (ring occupancy) */
byte next_ticket;       /* claim order */
bool committed[TOTAL];
byte cw;                /* cons_wait */
byte fw;                /* full_wait */
bool cons_asleep;
bool prod_asleep[N];
byte received;

/* futex_wait(word, val): sleeps unless word moved; woken by a wake. */
#define FUTEX_WAIT(word, val, asleep) \
	atomic { if :: word == val -> asleep = true :: else -> skip fi }; \
	!asleep

/* wait_signal: wake if a sleeper announced itself. */
inline signal_cons(v) {
	v = cw;
	if
	:: (v & 1) ->
		atomic {
			if
			:: cw == v -> cw = (v + 2) & 254; cons_asleep = false
			:: else -> skip
			fi
		}
	:: else -> skip
	fi
}

inline signal_full(v, i) {
	v = fw;
	if
	:: (v & 1) ->
		atomic {
			if
			:: fw == v ->
				fw = (v + 2) & 254;
				i = 0;
				do
				:: i < N -> prod_asleep[i] = false; i++
				:: else -> break
				od
			:: else -> skip
			fi
		}
	:: else -> skip
	fi
}

proctype producer(byte id)
{
	byte k, t, v;
	bool ok;

	k = 0;
	do
	:: k < K ->
claim:
		/* the CAS on the tail succeeds while there is room */
		atomic {
			if
			:: used < Q -> used++; t = next_ticket; next_ticket++; ok = true
			:: else -> ok = false
			fi
		};
		if
		:: !ok ->
			atomic { v = fw | 1; fw = fw | 1 };      /* wait_prepare */
			if
			:: used < Q -> goto claim                 /* re-check */
			:: else ->
				FUTEX_WAIT(fw, v, prod_asleep[id]);
				goto claim
			fi
		:: else -> skip
		fi;
		committed[t] = true;                          /* commit */
		signal_cons(v);
		k++
	:: else -> break
	od
}

proctype consumer()
{
	byte v, i;

	do
	:: received < TOTAL ->
		if
		:: committed[received] ->
			received++;
			used--;                                   /* release */
			signal_full(v, i)
		:: else ->
			atomic { v = cw | 1; cw = cw | 1 };       /* wait_prepare */
#ifdef BROKEN
			FUTEX_WAIT(cw, v, cons_asleep)
#else
			if
			:: committed[received] ->                 /* re-check */
				atomic { if :: cw == v -> cw = v & 254 :: else -> skip fi }
			:: else ->
				FUTEX_WAIT(cw, v, cons_asleep)
			fi
#endif
		fi
	:: else -> break
	od;
	assert(received == TOTAL)
}

init
{
	byte i;

	atomic {
		i = 0;
		do
		:: i < N -> run producer(i); i++
		:: else -> break
		od;
		run consumer()
	}
}
