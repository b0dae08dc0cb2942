"""Write the shipped data files: fictional edits, preservation pairs answered by the model itself,
locality prompts and generic texts.

    python -m methods.unke.make_data --model ~/.ponder/models/<converted SmolLM2 folder>

The preservation answers must be the base model's own, so that stage 2 keeps block l's
outputs on text the model would produce anyway.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from methods.unke.data import DATA_DIR, fictional_edits, save_edits

PRESERVATION_QUESTIONS = [
    "What is the capital of France?",
    "Give me three tips for staying healthy.",
    "How do plants make food?",
    "What is a prime number?",
    "Explain what a computer virus is.",
    "What causes rain?",
    "How does a bicycle work?",
    "What is the difference between weather and climate?",
    "Describe the water cycle.",
    "What is a noun?",
    "Why do we need sleep?",
    "How do vaccines work?",
    "What is the Pythagorean theorem?",
    "Name three primary colors.",
    "How do I make a cup of tea?",
    "What is democracy?",
    "Why do leaves change color in autumn?",
    "What is gravity?",
    "How can I improve my writing?",
    "What does a doctor do?",
    "What is the largest ocean on Earth?",
    "How do airplanes fly?",
    "What is an atom?",
    "Suggest a name for a pet cat.",
    "What is the difference between a lake and a river?",
    "How do I write a good email?",
    "What is the purpose of a museum?",
    "Explain how a refrigerator keeps food cold.",
    "What are the benefits of reading books?",
    "What is an ecosystem?",
    "How do trains run on tracks?",
    "What is a good way to save money?",
    "Describe a typical day at school.",
    "What is the role of a teacher?",
    "How do clouds form?",
    "What is a verb?",
    "Why do people celebrate birthdays?",
    "What is electricity?",
    "How does a camera take pictures?",
    "What is the main job of the lungs?",
    "Give me two ideas for a weekend trip.",
    "What is a desert?",
    "How do I plant a tree?",
    "What is history?",
    "Why is recycling useful?",
    "What does an engineer do?",
    "How does soap clean our hands?",
    "What is a map used for?",
    "Tell me a fun fact about elephants.",
    "What makes a good friend?",
]

LOCALITY_PROMPTS = [
    "What is the tallest mountain in the world?",
    "How do magnets work?",
    "What is photosynthesis?",
    "Give me a recipe for pancakes.",
    "What is the speed of light?",
    "Who wrote Romeo and Juliet?",
    "How many continents are there?",
    "What is machine learning?",
    "Why is exercise important?",
    "What is the function of the heart?",
    "How do I learn a new language?",
    "What is the capital of Japan?",
    "Explain what an economy is.",
    "What are the planets in our solar system?",
    "How does the internet work?",
    "What is a volcano?",
    "Write a short poem about the sea.",
    "What is the difference between a virus and bacteria?",
    "How do bees make honey?",
    "What is inflation?",
    "Why is the ocean salty?",
    "What is a healthy breakfast?",
    "How do I change a flat tire?",
    "What is the boiling point of water?",
    "Explain the rules of chess briefly.",
    "What is climate change?",
    "How do fish breathe?",
    "What is an adjective?",
    "Why do cats purr?",
    "What is the moon made of?",
]

GENERIC_TEXTS = [
    "The train left the station a few minutes late, and most passengers were reading.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "She opened the window to let the cool evening air into the kitchen.",
    "The committee will publish its report after the summer holidays.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "Our team meets every Monday morning to plan the week ahead.",
    "The museum's new exhibition shows paintings from the eighteenth century.",
    "He forgot his umbrella, so he waited under the bridge until the rain stopped.",
    "A balanced diet includes vegetables, fruit, grains and some protein.",
    "The river flows north for two hundred kilometres before reaching the sea.",
    "Please remember to save your work before closing the program.",
    "The children built a small castle out of sand and shells.",
    "Electric cars are becoming more common in many European cities.",
    "The library is open until eight o'clock on weekdays.",
    "Mountains affect the weather by forcing moist air to rise and cool.",
    "The recipe calls for two eggs, a cup of flour and a pinch of salt.",
    "Most birds build their nests in spring.",
    "The software update fixed several bugs and improved battery life.",
    "Ancient Rome was connected by a large network of roads.",
    "Reading every day is a good way to grow your vocabulary.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="transformers model folder")
    parser.add_argument("--edits", type=int, default=20)
    # Long enough to cover the positions a 48-token locality answer reaches (the prompt is ~37
    # tokens and stage 2 keeps the first UnkeConfig.max_preservation_tokens = 96).
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from methods.unke.evaluate import generate

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True).eval()
    answers = generate(model, tokenizer, PRESERVATION_QUESTIONS, args.max_new_tokens)
    DATA_DIR.mkdir(exist_ok=True)
    pairs = [
        {"question": q, "answer": a} for q, a in zip(PRESERVATION_QUESTIONS, answers, strict=True)
    ]
    (DATA_DIR / "preservation.json").write_text(json.dumps(pairs, indent=1) + "\n")
    (DATA_DIR / "locality.json").write_text(json.dumps(LOCALITY_PROMPTS, indent=1) + "\n")
    (DATA_DIR / "generic.json").write_text(json.dumps(GENERIC_TEXTS, indent=1) + "\n")
    save_edits(fictional_edits(args.edits, seed=0), DATA_DIR / "edits.json")
    print(f"wrote {len(pairs)} preservation pairs, {args.edits} edits to {DATA_DIR}")


if __name__ == "__main__":
    main()
