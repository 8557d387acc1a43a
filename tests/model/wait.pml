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
 * The consumer waits in either of two ways, chosen afresh at every wait:
 * on the futex, or on its descriptor (bus_consumer_fd), as an event loop
 * does.  For the descriptor it drains the descriptor, announces with a
 * second bit (POLL, 2) beside the sleep bit, re-checks, and then blocks
 * until the descriptor holds a byte; a signaller that wins the CAS on a
 * word with POLL set writes a byte instead of the futex wake.  The word's counter then steps
 * by 4.  A consumer waiting on its descriptor may also die there and be
 * replaced (a takeover): the successor finds the dead one's bits in the
 * word and its byte, if any, in the descriptor, and starts again.
 * Producers likewise wait on full_wait or on a socket of their own
 * (bus_producer_fd): drain it, set their slot's flag, announce with POLL,
 * re-check; the consumer's signal, when it took a word with POLL set,
 * goes through the slots one by one and sends a wake to each flagged
 * one, taking its flag.  A producer never withdraws an announce (others
 * may share it); it only drops its own flag when it finds room.
 *
 * spin checks that every process ends (no lost wakeup leaves a process
 * asleep forever: an "invalid end state") and that the consumer received
 * every message once.  Mutants, each of which the checker must catch,
 * show the model can fail: -DBROKEN skips the consumer's re-check before
 * the futex wait, -DBROKEN_FD the re-check before the descriptor wait,
 * -DBROKEN_DRAIN drains the descriptor after the announce instead of
 * before (a byte written in between is lost); -DBROKEN_PFD and
 * -DBROKEN_PDRAIN do the same two wrongs on the producers' side, and
 * -DBROKEN_ARM sets a producer's flag after its announce instead of
 * before (a signaller may see the announce and not the flag).
 *
 * cons_wait has one waiter, so a signaller that finds POLL in it writes
 * the descriptor and skips the futex wake, which nobody waits on; the
 * consumer's futex announce therefore clears POLL, which a consumer that
 * died waiting on its descriptor may have left.  -DBROKEN_STALE keeps it,
 * and its successor then sleeps on the futex for ever.
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
byte fifo;              /* bytes in the consumer's descriptor (at most 1 kept) */
bool pf[N];             /* a wake in producer i's socket */
bool armed[N];          /* producer i's slot flag: it waits on its socket */
bool took_over;         /* the consumer died once and was replaced */
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
			:: cw == v ->
				cw = (v + 4) & 252;
				/* One waiter: on the descriptor or on the futex. */
				if
				:: (v & 2) -> fifo = 1
				:: else -> cons_asleep = false
				fi
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
				fw = (v + 4) & 252;
				i = 0;
				do
				:: i < N -> prod_asleep[i] = false; i++
				:: else -> break
				od
			:: else -> v = 0                      /* lost the CAS */
			fi
		};
		/* The winner, if a poller announced: each armed slot, in turn. */
		if
		:: (v & 2) ->
			i = 0;
			do
			:: i < N ->
				atomic { if :: armed[i] -> armed[i] = false; pf[i] = true :: else -> skip fi };
				i++
			:: else -> break
			od
		:: else -> skip
		fi
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
			if
			:: true ->
				/* the futex: bus_send with a timeout */
				atomic { v = fw | 1; fw = fw | 1 };  /* wait_prepare */
				if
				:: used < Q -> goto claim            /* re-check */
				:: else ->
					FUTEX_WAIT(fw, v, prod_asleep[id]);
					goto claim
				fi
			:: true ->
				/* its socket: bus_send(.., 0), then poll */
#ifndef BROKEN_PDRAIN
				pf[id] = false;                      /* drain */
#endif
#ifdef BROKEN_ARM
				atomic { v = fw | 3; fw = fw | 3 };  /* announce, POLL */
				armed[id] = true;                    /* flag after: wrong */
#else
				armed[id] = true;                    /* the slot's flag */
				atomic { v = fw | 3; fw = fw | 3 };  /* announce, POLL */
#endif
#ifdef BROKEN_PDRAIN
				pf[id] = false;
#endif
				if
#ifndef BROKEN_PFD
				:: used < Q ->                       /* re-check */
					armed[id] = false;
					goto claim
#endif
				:: else ->
					pf[id];                      /* readable */
					goto claim
				fi
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
			if
			:: true ->
				/* the futex: bus_recv with a timeout */
#ifdef BROKEN_STALE
				atomic { v = cw | 1; cw = v };        /* keeps a stale POLL */
#else
				atomic { v = (cw | 1) & 253; cw = v }; /* wait_prepare_sole */
#endif
#ifdef BROKEN
				FUTEX_WAIT(cw, v, cons_asleep)
#else
				if
				:: committed[received] ->             /* re-check */
					atomic { if :: cw == v -> cw = v & 252 :: else -> skip fi }
				:: else ->
					FUTEX_WAIT(cw, v, cons_asleep)
				fi
#endif
			:: true ->
				/* the descriptor: bus_recv(.., 0), then poll */
#ifndef BROKEN_DRAIN
				fifo = 0;                             /* drain */
#endif
				atomic { v = cw | 3; cw = cw | 3 };   /* announce, POLL */
#ifdef BROKEN_DRAIN
				fifo = 0;
#endif
#ifdef BROKEN_FD
				skip;
#else
				if
				:: committed[received] ->             /* re-check */
					atomic { if :: cw == v -> cw = v & 252 :: else -> skip fi };
					goto next
				:: else -> skip
				fi;
#endif
				if
				:: fifo > 0                           /* readable */
				:: !took_over -> took_over = true     /* dies; a successor */
				fi
			fi
		fi;
next:		skip
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
