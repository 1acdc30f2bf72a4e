/* commands.h — the megac subcommands; each returns the process exit code. */
#ifndef MEGAC_COMMANDS_H
#define MEGAC_COMMANDS_H

int cmd_train_gpt(int argc, char **argv);
int cmd_train_bert(int argc, char **argv);
int cmd_eval_gpt(int argc, char **argv);
int cmd_eval_bert(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_fill_mask(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ckpt(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_plan(int argc, char **argv);

#endif
