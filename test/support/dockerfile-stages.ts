import { DockerfileParser, type Instruction } from 'dockerfile-ast';

/** What a stage ends up with, its parents' settings included (a later stage overrides). */
export interface StageConfig {
  /** The image at the root of the chain, ARG defaults substituted (`scratch` for none). */
  base: string;
  /** The stages from the root to this one. */
  chain: string[];
  user?: string;
  stopSignal?: string;
  entrypoint?: string[];
  cmd?: string[];
  /** HEALTHCHECK's arguments as written (`NONE` when switched off). */
  healthcheck?: string;
  env: string[];
  /** Every instruction of the chain, root first. */
  instructions: Instruction[];
}

/** A multi-stage Dockerfile read as its stages, with global ARG defaults and inheritance. */
export class DockerfileStages {
  readonly args: Record<string, string> = {};
  readonly stages = new Map<string, { from: string; instructions: Instruction[] }>();

  constructor(text: string) {
    const all = DockerfileParser.parse(text).getInstructions();
    let current: Instruction[] | null = null;
    for (const i of all) {
      if (i.getKeyword() === 'FROM') {
        const [from, , name] = i.getArgumentsContent()?.split(/\s+/) ?? [];
        current = [];
        this.stages.set(name ?? `#${this.stages.size}`, { from: from ?? '', instructions: current });
      } else if (current) current.push(i);
      else if (i.getKeyword() === 'ARG') {
        const [k, v] = (i.getArgumentsContent() ?? '').split('=');
        if (k && v !== undefined) this.args[k] = v;
      }
    }
  }

  /** A FROM's image with the global ARG defaults put in. */
  resolve(from: string): string {
    return from.replace(/\$\{(\w+)\}/g, (_, k: string) => this.args[k] ?? '');
  }

  config(name: string): StageConfig {
    const stage = this.stages.get(name);
    if (!stage) throw new Error(`no stage ${name}`);
    const from = this.resolve(stage.from);
    const parent: StageConfig = this.stages.has(from)
      ? this.config(from)
      : { base: from, chain: [], env: [], instructions: [] };
    const c: StageConfig = {
      ...parent,
      chain: [...parent.chain, name],
      env: [...parent.env],
      instructions: [...parent.instructions, ...stage.instructions],
    };
    for (const i of stage.instructions) {
      const text = i.getArgumentsContent() ?? '';
      const json = (): string[] => JSON.parse(text) as string[];
      const k = i.getKeyword();
      if (k === 'USER') c.user = text;
      else if (k === 'STOPSIGNAL') c.stopSignal = text;
      else if (k === 'ENTRYPOINT') c.entrypoint = json();
      else if (k === 'CMD') c.cmd = json();
      else if (k === 'HEALTHCHECK') c.healthcheck = text;
      else if (k === 'ENV') c.env.push(...text.split(/\s+\\?\s*/).filter((e) => e.includes('=')));
    }
    return c;
  }
}
