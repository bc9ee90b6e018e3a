"""Names of the spoken prompts, and how a number is read out from them."""

from __future__ import annotations

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

# name -> what is said; scripts/make-prompts renders each with espeak-ng.
TEXTS: dict[str, str] = {
    "welcome": "Welcome to Callroster.",
    "enter_pin": "Please enter your conference PIN, followed by the hash key.",
    "pin_wrong": "That PIN was not recognised. Please try again.",
    "pin_failed": "Sorry, that PIN was not recognised.",
    "goodbye": "Goodbye.",
    "joining": "You are joining the conference now.",
    "invited": "Hello. You are invited to join a conference call.",
    "press_one": "To join the call now, press 1.",
    "conference_locked": "This conference is locked.",
    "you_are_muted": "You are muted.",
    "you_are_unmuted": "You are unmuted.",
    "host_muted_you": "The host has muted you. Only the host can unmute you.",
    "conference_now_locked": "The conference is now locked.",
    "conference_unlocked": "The conference is now unlocked.",
    "all_muted": "Everyone except the host is muted.",
    "service_restarting": "The service is restarting. Please call back in a minute.",
    "there_are": "There are",
    "there_is": "There is",
    "people_on_the_call": "people on the call.",
    "person_on_the_call": "person on the call.",
    "many": "more than ninety nine",
    **{word: word for word in ONES + TENS if word},
}


def number_prompts(n: int) -> tuple[str, ...]:
    """0..99 as prompt names; larger numbers are read as "more than ninety nine"."""
    if n < 0 or n > 99:
        return ("many",)
    if n < 20:
        return (ONES[n],)
    tens, ones = divmod(n, 10)
    return (TENS[tens],) if ones == 0 else (TENS[tens], ONES[ones])


def count_prompts(n: int) -> tuple[str, ...]:
    if n == 1:
        return ("there_is", "one", "person_on_the_call")
    return ("there_are", *number_prompts(n), "people_on_the_call")
