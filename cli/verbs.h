/* cli/verbs.h — the list of verbs `ponder` has, in the order `ponder --help` shows them.
 * Adding a verb is one line here plus its cli/cmd_<name>.c defining `int pd_cmd_<name>(int, char **)`
 * (a line without its file fails to link, so the table lists only what exists). */
PD_VERB(inspect, "show a GGUF file's metadata and tensor table (models, checkpoints, adapters)")
PD_VERB(tokenize, "tokenise text with a model's vocabulary")
PD_VERB(logits, "compute raw logits for given token ids")
PD_VERB(quantize, "convert a model's weights to another type (q8_0, q4_0, ...)")
PD_VERB(convert, "convert a llama2.c .bin checkpoint to GGUF")
PD_VERB(run, "generate a reply, with thinking budgets and sampling controls")
PD_VERB(chat, "interactive multi-turn chat (/help lists its commands)")
PD_VERB(bench, "measure prefill/decode speed (and train, gemm)")
PD_VERB(tasks, "list, generate and score verifiable reasoning tasks")
PD_VERB(eval, "evaluate a model on a task set")
PD_VERB(train, "pretrain or SFT a model from scratch")
PD_VERB(finetune, "fine-tune with an adapter (lora, pissa, soka)")
PD_VERB(rl, "reinforce a model with verifiable rewards (grpo, drgrpo, dapo, rloo)")
PD_VERB(merge, "merge an adapter into its base model")
PD_VERB(adapters, "adapter parameter counts for real model shapes")
PD_VERB(policies, "list the reasoning-control policies (--policy) with their parameters")
