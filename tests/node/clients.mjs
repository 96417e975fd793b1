// The official openai Node SDK against the gateway: chat, a stream, a tool round trip, embeddings and the error
// classes. Reads ONEAPI_BASE_URL, ONEAPI_KEY, CHAT_MODEL and EMBEDDING_MODEL (empty: no embeddings on this
// channel); prints one JSON object with what each call returned, for tests/test_clients_node.py to check.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.ONEAPI_BASE_URL, apiKey: process.env.ONEAPI_KEY, maxRetries: 0 });
const model = process.env.CHAT_MODEL;
const question = { role: 'user', content: 'What is the weather in Paris?' };
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

async function errorOf(call) {
  try {
    await call();
    return null;
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    return { status: error.status, code: error.code ?? null, type: error.type ?? null,
      notFound: error instanceof OpenAI.NotFoundError, auth: error instanceof OpenAI.AuthenticationError };
  }
}

const result = {};
const chat = await client.chat.completions.create({ model, messages: [question] });
result.chat = { content: chat.choices[0].message.content, finish: chat.choices[0].finish_reason,
  object: chat.object, totalTokens: chat.usage?.total_tokens ?? null };

const stream = await client.chat.completions.create({ model, messages: [question], stream: true,
  stream_options: { include_usage: true } });
const pieces = [];
let usageChunks = 0;
let usageWithChoices = 0;
for await (const chunk of stream) {
  if (chunk.usage) {
    usageChunks += 1;
    if (chunk.choices.length) usageWithChoices += 1;
  }
  for (const choice of chunk.choices) pieces.push(choice.delta?.content ?? '');
}
result.stream = { text: pieces.join(''), usageChunks, usageWithChoices };

const runner = client.chat.completions.stream({ model, messages: [question] });
result.streamHelper = { text: (await runner.finalChatCompletion()).choices[0].message.content };

const called = await client.chat.completions.create({ model, messages: [question], tools: [weatherTool] });
const message = called.choices[0].message;
const call = message.tool_calls?.[0];
const answered = await client.chat.completions.create({ model, tools: [weatherTool], messages: [
  question, message, { role: 'tool', tool_call_id: call.id, content: '21 degrees and sunny' }] });
result.tools = { finish: called.choices[0].finish_reason, name: call.function.name,
  args: JSON.parse(call.function.arguments), answer: answered.choices[0].message.content };

if (process.env.EMBEDDING_MODEL) {
  const embedding = await client.embeddings.create({ model: process.env.EMBEDDING_MODEL, input: ['a', 'b'] });
  result.embeddings = embedding.data.map((item) => ({ index: item.index, length: item.embedding.length,
    numbers: item.embedding.every((value) => typeof value === 'number') }));
}

const models = await client.models.list();
result.models = models.data.map((item) => item.id);
result.missingModel = await errorOf(() => client.chat.completions.create({ model: 'no-such-model',
  messages: [question] }));
result.badKey = await errorOf(() => new OpenAI({ baseURL: process.env.ONEAPI_BASE_URL, apiKey: 'sk-not-a-token',
  maxRetries: 0 }).chat.completions.create({ model, messages: [question] }));
console.log(JSON.stringify(result));
