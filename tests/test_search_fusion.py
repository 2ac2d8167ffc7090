"""Hybrid search weighs words by how much they say: a distractor sharing one common word with a question asked
in other words never beats the memory that answers it, the question's rare words and identifiers still decide,
and every result says why it ranked."""

from __future__ import annotations

import pytest
from mcp import Client

from server.app import build_server
from server.search.lexical import identifiers

pytestmark = pytest.mark.anyio

FACTS = ["Our on-call rotation hands over every Wednesday at 10:00.",
         "Expense reports must be filed within 30 days of the trip or they are not reimbursed.",
         "The GPU cluster can be reserved in blocks of eight hours.",
         "Customer data must stay in EU data centres under our contracts.",
         "Error E1042 on the payment service means the card issuer timed out."]
# Sentences that share an ordinary word with a question below and answer none of them.
DISTRACTORS = [
    'Determine what kind of pager to use for displaying long help text.',
    'The pager shows one screen at a time and waits for a key.',
    'Return the duty cycle of the timer as a fraction.',
    'A shift of the bits to the left multiplies the number by two.',
    'Claim the lock before changing the shared list.',
    'Money values are stored as integers of cents to avoid rounding.',
    'Travel the tree depth first and yield each node once.',
    'Book keeping of open files is done by the operating system.',
    'Chunks of the input are read in blocks of the buffer size.',
    'The machine word size decides how large an integer fits in a register.',
    'This class allows communication over an encrypted socket.',
    'A coroutine which creates a server bound to host and port.',
    'Resolve the host name into a list of address entries.',
    'The client sends a greeting before any other command.',
    'Sends the message data to the mail server in one command.',
    'The server did not accept the sender address.',
    'Puts the connection to the mail server into an encrypted mode.',
    'The keyword arguments of the action constructor become attributes.',
    'History, breakpoints and actions are kept when the debugger restarts.',
    'Yield a recording object with a list of the warnings seen.',
    'Print a help message listing all available commands with a description.',
    'The shared counter is protected by a lock.',
    'Return the status of the last finished job.',
    'A bitmap shows the status of the entry: on, off or default.',
    'The daily rotation of log files keeps seven old copies.',
    'Change the current working directory to the given path.',
    'Return the day of the week as an integer, Monday being zero.',
    'The information about the current exception is returned as a tuple.',
    'A support class for reading and writing large files in parts.',
    'The hardware clock may drift a little every day.',
]
QUESTIONS = [("Which weekday does the support duty change hands?", 0),
             ("How long do I have to claim money back after travelling?", 1),
             ("In what chunks can I book the machine learning hardware?", 2),
             ("Where are we allowed to host client information?", 3)]


async def _store_all(client: Client) -> dict[str, str]:
    hashes = {}
    for text in FACTS + DISTRACTORS:
        stored = await client.call_tool("store_memory", {"content": text})
        hashes[stored.structured_content["content_hash"]] = text
    return hashes


async def test_a_question_in_other_words_is_not_lost_to_a_distractor_sharing_one_common_word(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        texts = await _store_all(client)
        for question, fact in QUESTIONS:
            semantic = await client.call_tool("retrieve_memory", {"query": question, "mode": "semantic", "n_results": 4})
            hybrid = await client.call_tool("retrieve_memory", {"query": question, "n_results": 4})
            by_meaning = [texts[r["content_hash"]] for r in semantic.structured_content["results"]]
            both = [texts[r["content_hash"]] for r in hybrid.structured_content["results"]]
            assert FACTS[fact] in by_meaning, (question, by_meaning)  # the embedding finds it...
            # ...and sentences sharing one of its words with the question do not push it down (they did: 6th)
            assert FACTS[fact] in both and both.index(FACTS[fact]) <= by_meaning.index(FACTS[fact]), (question, both)


async def test_rare_words_and_identifiers_still_decide_and_each_result_says_why(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        texts = await _store_all(client)
        found = await client.call_tool("retrieve_memory", {"query": "what does E1042 mean?", "n_results": 3})
        first = found.structured_content["results"][0]
        assert texts[first["content_hash"]] == FACTS[4]
        assert first["why"]["identifier_bonus"] > 0 and "e1042" in first["why"]["matched_words"]
        worded = await client.call_tool("retrieve_memory", {"query": "when does the on-call rotation hand over?"})
        first = worded.structured_content["results"][0]
        assert texts[first["content_hash"]] == FACTS[0]
        why = first["why"]
        assert why["words_weight"] > 0.2 and why["words"] > 0.5 and {"on-call", "rotation"} <= set(why["matched_words"])
        score = (1 - why["words_weight"]) * why["meaning"] + why["words_weight"] * why["words"] + why["identifier_bonus"]
        assert abs(min(1.0, score) - first["similarity"]) < 1e-3  # the parts add up to the score
        semantic = await client.call_tool("retrieve_memory", {"query": "rotation", "mode": "semantic"})
        assert semantic.structured_content["results"][0]["why"]["words_weight"] == 0
        listed = await client.call_tool("list_memories", {})
        assert "why" not in listed.structured_content["memories"][0]


def test_the_identifier_bonus_fires_on_identifiers_only():
    assert identifiers("When does the on-call rotation hand over at 10:00 on the 3rd?") == []
    assert identifiers("Is the Wi-Fi down, e.g. for the API or HR, at 2pm?") == []
    assert identifiers("E1042 in src/app.py, ERR_CONN_RESET, v2.0, pg-staging-02, #4521, port 5433") == [
        "e1042", "src/app.py", "err_conn_reset", "v2.0", "pg-staging-02", "#4521", "5433"]
    assert identifiers("numpy 1.26.4 and getUserName in os.path, ECONNRESET, acme-prod-logs") == [
        "1.26.4", "getusername", "os.path", "econnreset", "acme-prod-logs"]
