/* ponder/serve_resp.h — what `ponder serve` sends back, in OpenAI's shapes (serve/respond.c):
 * chat.completion / text_completion bodies, chat.completion.chunk / text_completion SSE events, usage
 * with completion_tokens_details.reasoning_tokens, and logprobs (chat: {"content": [{token, logprob,
 * bytes, top_logprobs}]}; completions: {tokens, token_logprobs, top_logprobs, text_offset}).
 * ponder's additions: message.reasoning_content / delta.reasoning_content (the DeepSeek / vLLM
 * convention; completions put it beside "text"), and choices[i].finish_detail. */
#ifndef PONDER_SERVE_RESP_H
#define PONDER_SERVE_RESP_H
#include <cjson/cJSON.h>
#include "ponder/sampler.h"
#include "ponder/serve_engine.h"
#include "ponder/tok.h"

/* One logprob entry of the chat shape for a sampled token. */
cJSON *pd_resp_logprob(const pd_tokenizer *tok, const pd_sample *s);
/* Stream events appended to j->out (false when out of memory). slot 0 reasoning, 1 content; lp is an
 * array of entries (taken; NULL: none). */
bool pd_resp_stream_role(pd_sjob *j, int choice);
bool pd_resp_stream_text(pd_sjob *j, int choice, int slot, const char *t, size_t n, cJSON *lp);
bool pd_resp_stream_finish(pd_sjob *j, int choice);
bool pd_resp_stream_end(pd_sjob *j);   /* the usage event (include_usage) and [DONE] */
/* The non-streamed body (malloc'd). */
char *pd_resp_body(const pd_sjob *j);

#endif
