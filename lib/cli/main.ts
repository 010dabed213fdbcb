/**
 * Entry point of the kit's tasks (`deno task reproduce`, `pretrain`, `label`,
 * `judge`, …): maps each sub-command to the stage function that does the work.
 * It carries no logic of its own.
 * @module
 */

import { type CliCommand, runCli } from "./_flags.ts";
import { reproduceCommand } from "./reproduce.ts";
import { evalGeneratorCommand, pretrainCommand, samplesCommand } from "./pretrain.ts";
import { judgeCommand } from "./judge.ts";
import { labelCommand } from "./label.ts";
import { labelSettingsCommand } from "./label_settings.ts";
import { trainRmCommand } from "./train_rm.ts";
import { inspectCommand } from "./inspect.ts";
import { figureCommand, reportCommand } from "./figure.ts";
import { pairsCommand } from "./pairs.ts";
import { postTrainCommand } from "./post_train.ts";
import { evaluateCommand } from "./evaluate.ts";

/** The kit's sub-commands, by name. */
export const COMMANDS: Record<string, CliCommand> = {
  reproduce: reproduceCommand,
  pretrain: pretrainCommand,
  samples: samplesCommand,
  "eval-generator": evalGeneratorCommand,
  judge: judgeCommand,
  label: labelCommand,
  "label-settings": labelSettingsCommand,
  "train-rm": trainRmCommand,
  inspect: inspectCommand,
  report: reportCommand,
  figure: figureCommand,
  pairs: pairsCommand,
  "post-train": postTrainCommand,
  evaluate: evaluateCommand,
};

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, COMMANDS));
}
